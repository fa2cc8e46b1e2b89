"""metrics.jsonl: lines after a resumed run's checkpoint are dropped, inf survives, the best is the earliest best."""

import json

import pytest

from tfpix2pix.train import history
from tfpix2pix.train.history import MetricsHistory


def test_a_resume_drops_the_lines_after_its_checkpoint_and_appends_after_the_rest(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    first = MetricsHistory(path, restored_step=0, log=print)
    for step, l1 in ((100, 9.0), (200, 8.0), (300, 7.0)):
        first.add({"step": step, "l1": l1, "psnr": float("inf")})
    notes = []
    resumed = MetricsHistory(path, restored_step=200, log=notes.append)
    assert [entry["step"] for entry in resumed.entries] == [100, 200]
    assert "dropped 1 validation line(s) after step 200" in notes[0]
    resumed.add({"step": 300, "l1": 6.5})
    lines = [json.loads(line) for line in open(path)]
    assert [line["step"] for line in lines] == [100, 200, 300]
    assert lines[0]["psnr"] == "inf"  # strict JSON, as metrics.json writes it
    assert history.read(path)[0]["psnr"] == float("inf")
    assert resumed.values("l1") == [(100, 9.0), (200, 8.0), (300, 6.5)]


def test_a_damaged_line_is_skipped_and_a_missing_file_is_empty(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert history.read(str(path)) == []
    path.write_text('{"step": 100, "l1": 3.0}\n{"step": 2\n{"l1": 1.0}\n')
    assert history.read(str(path)) == [{"step": 100, "l1": 3.0}]


@pytest.mark.parametrize("metric, lower, best_step", [("l1", True, 200), ("ssim", False, 100)])
def test_the_best_entry_is_the_earliest_of_the_best_values(metric, lower, best_step):
    entries = [{"step": 100, "l1": 5.0, "ssim": 0.5}, {"step": 200, "l1": 4.0, "ssim": 0.4},
               {"step": 300, "l1": 4.0, "ssim": 0.5}, {"step": 400, "l1": float("nan"), "ssim": 0.3}]
    assert history.best(entries, metric, lower)["step"] == best_step
    assert history.best([], metric, lower) is None
