"""The one way figures are timed: wall times after warm-up, as a median or alternating rounds."""

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


def alternating_seconds(candidates: dict, *, rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Per name, `rounds` wall times of its function, the functions called in turn after `warmup`
    calls each: candidates compared this way share whatever drift the machine has meanwhile."""
    for function in candidates.values():
        for _ in range(warmup):
            function()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, function in candidates.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def in_fresh_process(function, *args):
    """`function(*args)` run in a newly started Python process (no fork), its result returned.

    For figures a long-lived process would skew: oneDNN keeps per-process state, and a frozen
    SavedModel timed after the same layers ran with variable weights (a training step, an
    unfrozen SavedModel) in that process ran 1.3-1.8x slower on an AMX Xeon than in a process of its
    own, as a server runs it (docs/PERFORMANCE.md). `function` must be importable at module level.
    """
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()
