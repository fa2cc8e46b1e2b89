"""The facts files next to an export: read when present, {} when absent, one clear error when damaged."""

import pytest

from tfpix2pix.errors import UsageError
from tfpix2pix.inference import formats


def test_facts_are_read_and_absent_ones_are_empty(tmp_path):
    assert formats.read_metadata(str(tmp_path)) == {} and formats.read_sidecar(str(tmp_path / "m.tflite")) == {}
    (tmp_path / "m.json").write_text('{"multiple": 32}')
    assert formats.read_sidecar(str(tmp_path / "m.tflite")) == {"multiple": 32}


@pytest.mark.parametrize("contents, message", [
    (b'{"multiple": 3', "is damaged"), (b"\xff\xfe{}", "is damaged"), (b"[32]", "must hold a JSON object, got list"),
])
def test_a_damaged_facts_file_is_one_message_naming_it(tmp_path, contents, message):
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / formats.METADATA_FILE).write_bytes(contents)
    (tmp_path / "m.json").write_bytes(contents)
    with pytest.raises(UsageError, match=f"{tmp_path / 'assets.extra' / formats.METADATA_FILE}, the facts file of "
                                         f"this SavedModel, {message}"):
        formats.read_metadata(str(tmp_path))
    with pytest.raises(UsageError, match=f"{tmp_path / 'm.json'}, the facts file of m.tflite, {message}"):
        formats.read_sidecar(str(tmp_path / "m.tflite"))


def test_the_dataset_fact_names_registry_data_only():
    from tfpix2pix.config import DataConfig

    assert formats.dataset_name(DataConfig(dataset="facades")) == "facades"
    assert formats.dataset_name(DataConfig(dataset="")) is None
    assert formats.dataset_name(DataConfig(dataset="facades-sample", data_dir="pairs")) is None
    assert formats.dataset_name(DataConfig(dataset="", a_dir="a", b_dir="b")) is None
