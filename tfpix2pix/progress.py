"""A dependency-free progress bar for training steps and downloads.

On a terminal it redraws one line in place; in a log file (or any stream that is not a TTY) it
writes one plain line every `every` updates and a last one at close, so logs stay short.
"""

from __future__ import annotations

import numbers
import sys
import time
from typing import TextIO

# A terminal redraw costs a write; downloads update hundreds of times per second.
_MIN_REDRAW_SECONDS = 0.1
_BYTES_PER_MEGABYTE = 1_000_000


def _format_duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def _format_value(value) -> str:
    """Integers as they are, other numbers with 4 significant digits, the rest as text."""
    if isinstance(value, (str, bool)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    try:
        # Also covers NumPy floats and eager scalar tensors, which define __float__.
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


class Progress:
    """Counts units of work and shows count, percent, rate, elapsed time and ETA.

    Example:
        with Progress(total=steps, description="train", unit="step") as progress:
            for step in range(steps):
                ...
                progress.update(epoch=epoch, g_loss=g_loss, img_per_s=rate)

    Args:
        total: Expected number of units, or None when unknown (no percent, no ETA).
        description: Label at the start of the line, e.g. "train" or "download facades".
        unit: Name of one unit. "B" means bytes: counts and rates are shown in MB (10^6 bytes).
        stream: Where to write; None means `sys.stderr` at construction time.
        interactive: Redraw one line with carriage returns. None means `stream.isatty()`.
        every: When not interactive, write a line every `every` calls to `update`.
    """

    def __init__(
        self,
        total: int | None,
        *,
        description: str,
        unit: str = "it",
        stream: TextIO | None = None,
        interactive: bool | None = None,
        every: int = 50,
    ):
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.total = total
        self.description = description
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.every = every
        self.count = 0
        self.updates = 0
        self.postfix: dict[str, object] = {}
        self.closed = False
        self._start = time.monotonic()
        self._last_redraw = float("-inf")
        self._drawn_width = 0
        self._updates_at_last_line = -1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def update(self, n: int = 1, **postfix) -> None:
        """Adds `n` units and replaces the shown values of the given `postfix` keys."""
        self.count += n
        self.updates += 1
        self.postfix.update(postfix)
        if self.interactive:
            now = time.monotonic()
            if now - self._last_redraw >= _MIN_REDRAW_SECONDS:
                self._last_redraw = now
                self._redraw()
        elif self.updates % self.every == 0:
            self._write_line()

    def clear(self) -> None:
        """Blanks the redrawn line, so that other output (a warning) starts on a clean line; the next update redraws."""
        if self.interactive and self._drawn_width:
            self.stream.write("\r" + " " * self._drawn_width + "\r")
            self.stream.flush()
            self._drawn_width = 0
            self._last_redraw = float("-inf")

    def close(self) -> None:
        """Writes the final state once; later calls do nothing."""
        if self.closed:
            return
        self.closed = True
        if self.interactive:
            self._redraw()
            self.stream.write("\n")
            self.stream.flush()
        elif self.updates != self._updates_at_last_line:
            self._write_line()

    def line(self) -> str:
        """The current state as one line of text, without a line ending."""
        elapsed = max(time.monotonic() - self._start, 0.0)
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.unit == "B":
            shown_unit = "MB"
            count = f"{self.count / _BYTES_PER_MEGABYTE:.1f}"
            total = None if self.total is None else f"{self.total / _BYTES_PER_MEGABYTE:.1f}"
            shown_rate = f"{rate / _BYTES_PER_MEGABYTE:.3g}"
        else:
            shown_unit = self.unit
            count = str(self.count)
            total = None if self.total is None else str(self.total)
            shown_rate = f"{rate:.3g}"

        parts = []
        if total is None:
            parts.append(f"{self.description}: {count} {shown_unit}")
            parts.append(f"{shown_rate} {shown_unit}/s")
            parts.append(_format_duration(elapsed))
        else:
            percent = 100.0 * self.count / self.total if self.total else 100.0
            parts.append(f"{self.description}: {count}/{total} {shown_unit} {percent:3.0f}%")
            parts.append(f"{shown_rate} {shown_unit}/s")
            remaining = max(self.total - self.count, 0)
            eta = _format_duration(remaining / rate) if rate > 0 else "?"
            parts.append(f"{_format_duration(elapsed)}<{eta}")
        if self.postfix:
            parts.append(" ".join(f"{key}={_format_value(value)}" for key, value in self.postfix.items()))
        return " | ".join(parts)

    def _redraw(self) -> None:
        text = self.line()
        # Blank out what is left of a longer previous line.
        padding = " " * max(self._drawn_width - len(text), 0)
        self.stream.write("\r" + text + padding)
        self.stream.flush()
        self._drawn_width = len(text)

    def _write_line(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._updates_at_last_line = self.updates
