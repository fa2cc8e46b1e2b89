"""Fixtures shared across the test tree: quiet TensorFlow, the bundled sample, ../shared when present."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tests.paths import SAMPLE, SHARED  # noqa: E402

@pytest.fixture
def sample_train_files():
    return sorted(str(path) for path in (SAMPLE / "train").glob("*.jpg"))


@pytest.fixture
def shared_facades():
    folder = SHARED / "data" / "facades"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (only developer machines and CI have ../shared)")
    return folder
