"""Progress display for a run: a live bar on a terminal, or plain periodic lines for logs.

A :class:`Progress` is a results observer (``on_results``, see ``_runner.py``):
the runner calls it as items complete, so no backend knows about it.  The bar
is drawn by tqdm, imported only when a bar is shown (``import gearshift``
stays light).  tqdm was chosen over rich for this one job: it is a single
small pure-Python package with no dependencies, its updates are throttled and
cheap, and it is thread-safe; rich would bring a much larger dependency tree
for the same bar.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

Style = Literal["bar", "lines", "none"]


def choose_style(stream: TextIO, *, when_not_a_terminal: Style) -> Style:
    """``bar`` on a terminal, otherwise ``when_not_a_terminal``."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):  # closed or unusual streams
        interactive = False
    return "bar" if interactive else when_not_a_terminal


class Progress:
    """Counts finished and failed items and shows them: done/total, rate, ETA, failures, mode and workers.

    ``total`` is None when the input's length is unknown (then there is no
    ETA).  ``label`` names the mode and workers (``"process x2"``); a callable
    is asked again at each update, so ``auto`` can show the plan once it is
    chosen.  ``initial`` counts items finished before this process started (a
    resumed run): they show as done but do not inflate the rate.
    """

    def __init__(
        self,
        *,
        total: int | None,
        label: str | Callable[[], str],
        style: Style,
        stream: TextIO | None = None,
        initial: int = 0,
        interval: float = 5.0,
    ) -> None:
        self.total = total
        self._label = label
        self.label = label if isinstance(label, str) else label()
        self.style = style
        self.stream = stream if stream is not None else sys.stderr
        self.done = initial
        self.failed = 0
        self._initial = initial
        self._interval = interval
        self._started = time.monotonic()
        self._next_line = self._started + interval
        self._bar: Any = None
        self._lock = threading.Lock()
        if style == "bar":
            from tqdm import tqdm

            sized = _has_width(self.stream)
            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=self.label,
                unit=" items",
                file=self.stream,
                # A terminal that reports its size as 0x0 (some ptys) would get no bar at all.
                dynamic_ncols=sized,
                ncols=None if sized else 100,
                nrows=None if sized else 24,
                smoothing=0.1,
                postfix="0 failed",
            )

    def __call__(self, start: int, outcomes: list[Any], failed: int) -> None:
        with self._lock:  # runners may report from their backend's threads (see ResultsObserver)
            self._count(outcomes, failed)

    def _count(self, outcomes: list[Any], failed: int) -> None:
        self.done += len(outcomes)
        if not isinstance(self._label, str):
            label = self._label()
            if label != self.label:
                self.label = label
                if self._bar is not None:
                    self._bar.set_description_str(label, refresh=False)
        if failed:
            self.failed += failed
            if self._bar is not None:
                self._bar.set_postfix_str(f"{self.failed} failed", refresh=False)
        if self._bar is not None:
            self._bar.update(len(outcomes))
        elif self.style == "lines":
            now = time.monotonic()
            if now >= self._next_line:
                self._next_line = now + self._interval
                self._write_line(now)

    def summary(self, now: float | None = None) -> str:
        """One line: done/total, rate, ETA (when the total is known), failures, mode and workers."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._started, 1e-9)
        rate = (self.done - self._initial) / elapsed
        parts = [f"{self.done:,}/{self.total:,} items" if self.total is not None else f"{self.done:,} items"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:,.1f} items/s")
        if self.total is not None and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        parts.append(f"elapsed {_duration(elapsed)}")
        parts.append(f"{self.failed} failed")
        parts.append(self.label)
        return " | ".join(parts)

    def _write_line(self, now: float) -> None:
        self.stream.write(f"gearshift: {self.summary(now)}\n")
        self.stream.flush()

    def close(self) -> None:
        """Finish the display (the last line shows the final counts)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.style == "lines":
            self._write_line(time.monotonic())
            self.style = "none"


def _has_width(stream: TextIO) -> bool:
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
