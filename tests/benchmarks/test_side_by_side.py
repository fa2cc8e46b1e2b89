"""benchmarks/side_by_side.py keeps one table per kind of machine: a run on another CPU adds its own."""

import importlib.util

from tests.paths import REPO

_spec = importlib.util.spec_from_file_location("side_by_side", REPO / "benchmarks" / "side_by_side.py")
side_by_side = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(side_by_side)


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
