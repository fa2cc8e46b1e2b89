"""`metrics.jsonl` in the work dir: one JSON line per validation, the step and the val metrics.

A resumed run restarts from its checkpoint, so lines of steps after it (written before a crash)
are dropped on start: the rerun writes them again, and each step has one line.
"""

from __future__ import annotations

import json
import math

from tfpix2pix import files


def _jsonable(value):
    """Numbers as they are; inf and nan as the strings "inf" and "nan", as metrics.json writes them."""
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def _number(value):
    return float(value) if value in ("inf", "-inf", "nan") else value


class MetricsHistory:
    """The validations of a run so far, kept in `path` (rewritten whole, so readers never see half a line).

    Args:
        path: the work dir's metrics.jsonl.
        restored_step: the run's step now; later lines are dropped.
        log: where the note about dropped lines goes.
    """

    def __init__(self, path: str, *, restored_step: int, log=print):
        self.path = path
        self.entries = read(path)
        kept = [entry for entry in self.entries if entry["step"] <= restored_step]
        if len(kept) < len(self.entries):
            log(f"note: {path}: dropped {len(self.entries) - len(kept)} validation line(s) after step "
                f"{restored_step}, the checkpoint this run resumes from; they are measured again")
            self.entries = kept
            self._write()

    def add(self, entry: dict) -> None:
        """Appends one validation (`step` and metric values)."""
        self.entries.append(entry)
        self._write()

    def values(self, metric: str) -> list[tuple[int, float]]:
        """(step, value) of `metric` over the validations that have it."""
        return [(entry["step"], float(entry[metric])) for entry in self.entries if metric in entry]

    def _write(self) -> None:
        text = "".join(json.dumps({key: _jsonable(value) for key, value in entry.items()}) + "\n"
                       for entry in self.entries)
        files.write_bytes(self.path, text)


def read(path: str) -> list[dict]:
    """The lines of a metrics.jsonl (none when it does not exist); a damaged line is skipped."""
    if not files.isfile(path):
        return []
    entries = []
    for line in files.read_bytes(path).decode("utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            entries.append({key: _number(value) for key, value in entry.items()})
    return entries


def best(entries: list[dict], metric: str, lower_is_better: bool) -> dict | None:
    """The entry with the best `metric` (the earliest among equals), or None."""
    scored = [entry for entry in entries if isinstance(entry.get(metric), (int, float))
              and math.isfinite(entry[metric])]
    if not scored:
        return None
    return (min if lower_is_better else max)(scored, key=lambda entry: entry[metric])
