"""The SavedModel latency script finds an export's two SavedModels and times both (timings never asserted)."""

from tests.benchmarks import script
from tfpix2pix import config as config_lib, machine
from tfpix2pix.export import savedmodel
from tfpix2pix.models import precision
from tfpix2pix.models.generator import build_generator

saved_model_latency = script("saved_model_latency")


def test_an_export_folder_is_timed_as_its_float32_and_bf16_saved_models(tmp_path, capsys):
    config = config_lib.preset("tiny")
    generator = build_generator(**config_lib.generator_arguments(config))
    for folder, model, facts in (("saved_model", generator, {"image_size": 32}),
                                 ("saved_model_bf16", precision.rebuilt(generator, config, "bfloat16"),
                                  {"image_size": 32, "precision": "bfloat16"})):
        savedmodel.save(model, str(tmp_path / "export" / folder / "7"), multiple=32, metadata=facts,
                        warmup_image_size=32)
    saved_model_latency.main([str(tmp_path / "export"), "--rounds", "2"])
    printed = capsys.readouterr().out
    assert "32x32, batch 1, 2 alternating rounds" in printed
    assert f"oneDNN kernels {'on' if machine.onednn_enabled() else 'off'};" in printed
    rows = [line for line in printed.splitlines() if line.startswith("| `")]
    assert len(rows) == 2
    assert "saved_model/7` | float32 |" in rows[0] and rows[0].endswith("| 1.00x |")
    assert "saved_model_bf16/7` | bfloat16 |" in rows[1]
    assert all("| TensorFlow graph |" in row for row in rows)


def test_xla_adds_a_compiled_row_per_saved_model(tmp_path, capsys):
    generator = build_generator(**config_lib.generator_arguments(config_lib.preset("tiny")))
    savedmodel.save(generator, str(tmp_path / "saved_model" / "3"), multiple=32, metadata={"image_size": 32},
                    warmup_image_size=32)
    saved_model_latency.main([str(tmp_path / "saved_model"), "--rounds", "2", "--xla"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(rows) == 2
    assert "saved_model/3` | float32 | TensorFlow graph |" in rows[0] and rows[0].endswith("| 1.00x |")
    assert "saved_model/3` | float32 | XLA (`jit_compile`) |" in rows[1]
