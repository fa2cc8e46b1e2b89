"""benchmarks/side_by_side.py keeps one table per kind of machine: a run on another CPU adds its own."""

from tests.benchmarks import script

side_by_side = script("side_by_side")


def test_a_machine_kinds_table_is_replaced_and_a_new_kind_is_added_after_the_others(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    epyc, xeon = "AMD EPYC, AVX2 FMA", "Intel Xeon, AVX2 FMA AVX512F AMX"
    path.write_text(f"head\n<!-- side-by-side {epyc}:start -->\nold\n<!-- side-by-side {epyc}:end -->\ntail\n")
    side_by_side.write_section(str(path), "new epyc table", epyc)
    side_by_side.write_section(str(path), "xeon table", xeon)
    side_by_side.write_section(str(path), "xeon table, again", xeon)
    assert path.read_text() == (
        f"head\n<!-- side-by-side {epyc}:start -->\nnew epyc table\n<!-- side-by-side {epyc}:end -->\n\n"
        f"On {xeon}:\n\n<!-- side-by-side {xeon}:start -->\nxeon table, again\n<!-- side-by-side {xeon}:end -->\n"
        "tail\n")


def test_the_machine_kind_is_the_cpu_model_and_its_flags():
    assert side_by_side.machine_kind({"cpu": "AMD EPYC", "cpus": 2, "flags": ["AVX2", "FMA"]}) == "AMD EPYC, AVX2 FMA"


def _ours(img_per_s, saved_model_ms):
    return {"train_img_per_s": img_per_s, "matmul_peak_gflops": 100.0, "pipeline_img_per_s": 200.0,
            "train": {"instance": {"share_of_peak": 0.5, "step_ms": 1000 / img_per_s, "step_gflop": 93.8}},
            "infer_ms": {"saved_model": saved_model_ms, "saved_model_bf16": 0.9 * saved_model_ms, "keras": 140.0, "tflite_fp32": 120.0, "tflite_int8": 150.0,
                         "tflite_fp16": 110.0}}


def _facts(bf16):
    return {"date": "2026-12-01 21:00 UTC", "arguments": "--bf16" if bf16 else "(defaults)", "quick": False,
            "size": 256, "busy": False, "cpu": "Intel Xeon", "cpus": 2, "flags": ["AVX2", "AVX512_BF16", "AMX"],
            "load_before": "0.1 / 0.1 / 0.1", "load_after": "1.5 / 1.0 / 0.5", "tensorflow": "2.21.0",
            "keras": "3.15.1", "torch": "2.13.0", "torch_threads": None, "commit": "abc1234", "bf16": bf16}


def test_the_bf16_table_compares_with_the_reference_at_its_best_in_bf16_only():
    best = [{"train_img_per_s": 1.0, "infer_ms": 80.0}]
    section = side_by_side.table([_ours(2.5, 70.0)], [], _facts(True), "", best)
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert "mixed_bfloat16 (the reference in bf16 autocast)" in section
    assert not any(row.startswith("| training images/s (ours / reference) |") for row in rows)
    training = next(row for row in rows if row.startswith("| training images/s (ours in mixed_bfloat16"))
    assert "| 2.50x | ≥ 2x | yes |" in training
    latency = next(row for row in rows if row.startswith("| generator ms/image"))
    # The bf16 SavedModel (63 ms) against the reference's bf16 generator (80 ms).
    assert "bf16 SavedModel" in latency and "the reference's bf16 generator" in latency
    assert "| 63 ms | 80 ms | 0.79x | ≤ 1x | yes |" in latency and "float32 SavedModel 70 ms" in latency


def test_the_float32_table_keeps_both_reference_rows_and_its_targets():
    reference, best = [{"train_img_per_s": 1.0, "infer_ms": 200.0, "train_step_gflop": 93.3}], [
        {"train_img_per_s": 0.75, "infer_ms": 190.0}]
    section = side_by_side.table([_ours(1.2, 150.0)], reference, _facts(False), "", best)
    assert "instance norm, float32, median of 1 round(s)" in section
    assert "| training images/s (ours / reference) | 1.2 img/s | 1 img/s | 1.20x | ≥ 1.5x | no |" in section
    assert "| 1.60x | ≥ 1.5x | yes |" in section  # against the reference at its best (channels-last, fused Adam)
    assert "| generator ms/image, SavedModel (ours) / reference | 150 ms | 200 ms | 0.75x | ≤ 0.6x | no |" in section
    assert ("| bf16 SavedModel (`export --bf16`) / float32 SavedModel ms/image | 135 ms | 150 ms | 0.90x | < 1x | yes "
            "| bfloat16 native on this CPU |") in section
