"""`tfpix2pix bench --quick`: the JSON schema only (timings are never asserted)."""

import json

import pytest

from tests.cli_run import run_cli
from tfpix2pix import machine
from tfpix2pix.export import onnx as onnx_export

pytestmark = pytest.mark.slow  # the real command in a subprocess
EXPORTED_LATENCIES = ("keras", "saved_model", "saved_model_bf16", "tflite_fp32", "tflite_fp16", "tflite_int8")


def test_bench_quick_json_schema():
    result = run_cli("bench", "--quick", "--json", check=True, timeout=600)
    results = json.loads(result.stdout)
    assert {"train_img_per_s", "matmul_peak_gflops", "train", "infer_ms", "pipeline_img_per_s",
            "peak_memory_mb", "image_size", "batch_size", "precision", "jit", "machine"} <= set(results)
    assert results["image_size"] == 32 and results["quick"] is True
    assert {"cpu", "cpus", "flags", "onednn", "tensorflow", "keras"} <= set(results["machine"])
    assert results["machine"]["onednn"] == machine.onednn_enabled()
    for norm in ("instance", "batch"):
        measured = results["train"][norm]
        assert {"img_per_s", "step_ms", "step_gflop", "achieved_gflops", "share_of_peak"} <= set(measured)
        assert all(isinstance(value, float) and value > 0 for value in measured.values())
    assert results["train_img_per_s"] == results["train"]["instance"]["img_per_s"]
    assert set(EXPORTED_LATENCIES) <= set(results["infer_ms"])
    if onnx_export.missing() is None:  # tf2onnx, onnx and onnxruntime installed
        assert "onnx" in results["infer_ms"]
    assert all(isinstance(value, float) and value > 0 for value in results["infer_ms"].values())



def test_bench_quick_under_mixed_bfloat16_times_float32_exports():
    """A bf16 run's exports are float32 (as `export` builds them), so every format converts and runs."""
    result = run_cli("bench", "--quick", "--json", "--precision", "mixed_bfloat16", check=True, timeout=600)
    results = json.loads(result.stdout)
    assert results["precision"] == "mixed_bfloat16"
    assert set(EXPORTED_LATENCIES) <= set(results["infer_ms"])
    assert all(isinstance(value, float) and value > 0 for value in results["infer_ms"].values())
