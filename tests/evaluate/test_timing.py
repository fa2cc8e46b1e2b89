import os

from tfpix2pix.evaluate.timing import alternating_seconds, in_fresh_process, median_seconds


def test_alternating_seconds_warms_up_then_calls_the_candidates_in_turn():
    calls = []
    candidates = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}

    times = alternating_seconds(candidates, rounds=3, warmup=2)

    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert list(times) == ["a", "b"]
    assert all(len(seconds) == 3 and all(t >= 0 for t in seconds) for seconds in times.values())


def test_median_seconds_times_only_the_calls_after_warm_up():
    calls = []

    seconds = median_seconds(lambda: calls.append(1), repeats=4, warmup=3)

    assert len(calls) == 7
    assert seconds >= 0


def test_in_fresh_process_runs_the_function_in_another_process_and_returns_its_result():
    assert in_fresh_process(os.getpid) != os.getpid()
    assert in_fresh_process(max, 3, 7) == 7
