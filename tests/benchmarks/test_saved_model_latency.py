"""The SavedModel latency script finds an export's two SavedModels and times both (timings never asserted)."""

import pytest

from tests.benchmarks import script
from tfpix2pix import config as config_lib, machine
from tfpix2pix.export import savedmodel
from tfpix2pix.models import precision
from tfpix2pix.models.generator import build_generator

saved_model_latency = script("saved_model_latency")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """An export folder of the tiny generator: saved_model/7 (float32) and saved_model_bf16/7."""
    folder = tmp_path_factory.mktemp("latency") / "export"
    config = config_lib.preset("tiny")
    generator = build_generator(**config_lib.generator_arguments(config))
    for kind, model, facts in (("saved_model", generator, {"image_size": 32}),
                               ("saved_model_bf16", precision.rebuilt(generator, config, "bfloat16"),
                                {"image_size": 32, "precision": "bfloat16"})):
        savedmodel.save(model, str(folder / kind / "7"), multiple=32, metadata=facts, warmup_image_size=32)
    return folder


def timed_rows(capsys, *argv) -> list[str]:
    saved_model_latency.main([*map(str, argv), "--rounds", "2"])
    printed = capsys.readouterr().out
    assert "32x32, batch 1, 2 alternating rounds" in printed
    assert f"oneDNN kernels {'on' if machine.onednn_enabled() else 'off'};" in printed
    return [line for line in printed.splitlines() if line.startswith("| `")]


def test_an_export_folder_is_timed_as_its_float32_and_bf16_saved_models(export, capsys):
    rows = timed_rows(capsys, export)
    assert len(rows) == 2
    assert "saved_model/7` | float32 |" in rows[0] and rows[0].endswith("| 1.00x |")
    assert "saved_model_bf16/7` | bfloat16 |" in rows[1]
    assert all("| TensorFlow graph |" in row for row in rows)


def test_xla_adds_a_compiled_row_per_saved_model(export, capsys):
    rows = timed_rows(capsys, export / "saved_model", "--xla")
    assert len(rows) == 2
    assert "saved_model/7` | float32 | TensorFlow graph |" in rows[0] and rows[0].endswith("| 1.00x |")
    assert "saved_model/7` | float32 | XLA (`jit_compile`) |" in rows[1]
