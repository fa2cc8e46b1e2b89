"""The one way figures are timed: the median wall time over repeats after warm-up."""

from __future__ import annotations

import statistics
import time


def median_seconds(function, *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of `function()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
