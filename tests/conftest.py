"""Shared fixtures: quiet TensorFlow, the bundled sample, ../shared when present."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE = REPO / "tfpix2pix" / "sample_data" / "facades-sample"


@pytest.fixture
def sample_train_files():
    return sorted(str(path) for path in (SAMPLE / "train").glob("*.jpg"))


@pytest.fixture
def shared_facades():
    folder = SHARED / "data" / "facades"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (only developer machines and CI have ../shared)")
    return folder
