"""The TFLite latency script finds an export's .tflite files, fp32 first, and times them all (timings never asserted)."""

from tests.benchmarks import script
from tfpix2pix import config as config_lib
from tfpix2pix.export import tflite
from tfpix2pix.models.generator import build_generator

tflite_latency = script("tflite_latency")


def test_an_export_folder_is_timed_file_by_file_against_fp32(tmp_path, capsys):
    config = config_lib.preset("tiny")
    generator = build_generator(**config_lib.generator_arguments(config))
    for variant in ("fp16", "fp32"):
        (tmp_path / f"tiny_{variant}.tflite").write_bytes(tflite.convert(generator, variant, image_size=32))
    tflite_latency.main([str(tmp_path), "--rounds", "2", "--threads", "1"])
    printed = capsys.readouterr().out
    assert "32x32, batch 1, LiteRT with XNNPACK on 1 thread(s), 2 alternating rounds" in printed
    rows = [line for line in printed.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["tiny_fp32.tflite", "tiny_fp16.tflite"]
    assert rows[0].endswith("| 1.00x |") and len(rows[1].split("|")[3].split(",")) == 2
