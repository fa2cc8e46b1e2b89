"""Tests for tfpix2pix.progress: what is written, and when, for terminals and for logs."""

import io

import numpy as np
import pytest

from tfpix2pix import progress as progress_lib
from tfpix2pix.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_lib.time, "monotonic", fake)
    return fake


def test_log_mode_writes_every_n_updates_and_at_close(clock):
    stream = io.StringIO()
    with Progress(10, description="train", unit="step", stream=stream, every=4) as bar:
        for _ in range(10):
            clock.now += 0.5
            bar.update()
    lines = stream.getvalue().splitlines()
    # After updates 4 and 8, then the final state at close.
    assert lines == [
        "train: 4/10 step  40% | 2 step/s | 00:02<00:03",
        "train: 8/10 step  80% | 2 step/s | 00:04<00:01",
        "train: 10/10 step 100% | 2 step/s | 00:05<00:00",
    ]
    assert "\r" not in stream.getvalue()


def test_log_mode_does_not_repeat_the_last_line_at_close(clock):
    stream = io.StringIO()
    bar = Progress(4, description="x", stream=stream, every=2)
    for _ in range(4):
        bar.update()
    bar.close()
    bar.close()
    assert len(stream.getvalue().splitlines()) == 2


def test_postfix_shows_floats_with_four_significant_digits(clock):
    stream = io.StringIO()
    with Progress(100, description="train", stream=stream, every=1) as bar:
        clock.now += 2.0
        bar.update(50, epoch=3, g_loss=12.345678, d_loss=np.float32(0.693147), img_per_s=0.000123456)
    first = stream.getvalue().splitlines()[0]
    assert first == (
        "train: 50/100 it  50% | 25 it/s | 00:02<00:02 | epoch=3 g_loss=12.35 d_loss=0.6931 img_per_s=0.0001235"
    )


def test_postfix_keys_persist_and_update(clock):
    bar = Progress(None, description="t", stream=io.StringIO())
    bar.update(epoch=1, loss=2.0)
    bar.update(loss=1.5)
    assert bar.line().endswith("| epoch=1 loss=1.5")


def test_interactive_redraws_one_line(clock):
    stream = io.StringIO()
    bar = Progress(3, description="train", stream=stream, interactive=True)
    for _ in range(3):
        clock.now += 1.0  # Past the redraw throttle every time.
        bar.update(loss=10.0 if bar.count == 0 else 1.0)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 4  # Three updates and the final redraw.
    assert text.endswith("\n") and text.count("\n") == 1
    frames = text.rstrip("\n").split("\r")[1:]
    assert frames[0] == "train: 1/3 it  33% | 1 it/s | 00:01<00:02 | loss=10"
    # The second frame is one character shorter ("loss=1"): a space blanks the leftover.
    assert frames[1] == "train: 2/3 it  67% | 1 it/s | 00:02<00:01 | loss=1 "
    assert frames[-1] == "train: 3/3 it 100% | 1 it/s | 00:03<00:00 | loss=1"


def test_interactive_throttles_redraws(clock):
    stream = io.StringIO()
    bar = Progress(1000, description="d", stream=stream, interactive=True)
    for _ in range(1000):
        clock.now += 0.001
        bar.update()
    # One second of updates at most every 0.1 s: about 10 redraws, not 1000.
    assert 9 <= stream.getvalue().count("\r") <= 11


def test_interactive_defaults_to_isatty():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert Progress(1, description="t", stream=Terminal()).interactive is True
    assert Progress(1, description="t", stream=io.StringIO()).interactive is False


def test_bytes_are_shown_in_megabytes(clock):
    stream = io.StringIO()
    with Progress(30_000_000, description="download facades.tar.gz", unit="B", stream=stream, every=1) as bar:
        clock.now += 4.0
        bar.update(12_000_000)
    assert stream.getvalue().splitlines()[0] == (
        "download facades.tar.gz: 12.0/30.0 MB  40% | 3 MB/s | 00:04<00:06"
    )


def test_unknown_total_has_no_percent_or_eta(clock):
    stream = io.StringIO()
    with Progress(None, description="read", stream=stream, every=1) as bar:
        clock.now += 3725.0
        bar.update(7)
    assert stream.getvalue().splitlines()[0] == "read: 7 it | 0.00188 it/s | 1:02:05"


def test_defaults_to_stderr(capsys):
    with Progress(2, description="steps", every=1) as bar:
        bar.update(2)
    assert capsys.readouterr().err.startswith("steps: 2/2 it 100%")
