"""How many items each chunk holds: fixed when asked, otherwise from measured item times.

Apart from the runner because it is pure arithmetic over measurements (the
runner feeds it the time each chunk took and asks for the next size), so it is
tested on made-up timings (tests/test_runner.py) and read on its own.
"""

from __future__ import annotations

import math

#: the largest automatic chunk, whatever the measurements say
MAX_CHUNK = 65536
#: with a known length, a chunk may hold up to 1 / (workers x this) of the items left ...
GUIDED_SHARES = 4
#: ... as long as that is at most this many seconds of work
GUIDED_SECONDS = 0.25


class Chunker:
    """Picks chunk sizes: fixed when asked, otherwise from measured item times.

    Sizes start at 1 (the first result comes fast and the first measurement is
    cheap), double while nothing is measured, then aim at ``target`` seconds
    per chunk.  With a known input length, chunks stay small enough that every
    worker gets several, so the work spreads evenly to the end; and while much
    input remains they are guided (as in guided self-scheduling): each takes a
    share of what remains, up to ``GUIDED_SECONDS`` of work, so coarse items do
    not pay one round trip each (the parent's CPU per chunk is taken from the
    workers on a busy machine), then they shrink back to ``target`` at the end,
    where small chunks keep the workers finishing together.
    """

    def __init__(
        self, fixed: int | None, target: float, workers: int, length: int | None, hold: float | None = None
    ) -> None:
        #: at most this many seconds of work per chunk, and 1 item until one was measured (None: no bound):
        #: someone watches results as they complete, and a chunk holds its finished items until it is back
        self.hold = hold
        self.fixed = fixed
        self.target = target
        self.workers = workers
        self.length = length or None
        self.cap = MAX_CHUNK
        if length:
            self.cap = max(1, min(MAX_CHUNK, math.ceil(length / (workers * 4))))
        self._per_item: float | None = None
        self._ramp = 1

    def seed(self, per_item: float) -> None:
        """Start from a time per item measured beforehand (auto's sample) instead of ramping up from 1."""
        if self.fixed is None and per_item > 0:
            self._per_item = per_item
            self._ramp = self.cap

    def next_size(self, taken: int = 0) -> int:
        """The size of the next chunk; ``taken`` is how many items were read already."""
        if self.fixed is not None:
            return self.fixed
        if self._per_item is None:
            if self.hold is not None:
                return 1  # the items may take long: no growing before one was measured
            size = self._ramp
            self._ramp = min(self._ramp * 2, self.cap)
            return min(size, self.cap)
        if self._per_item <= 0:
            return max(1, min(self.cap, self._ramp))
        wanted = self.target / self._per_item
        if self.length is not None and self.workers > 1:
            # Guided sizes save round trips between workers; one inline worker (sync, and
            # auto's measuring phase, which must look at its measurements often) has none.
            share = (self.length - taken) / (self.workers * GUIDED_SHARES)
            wanted = max(wanted, min(share, GUIDED_SECONDS / self._per_item))
        if self.hold is not None:
            wanted = min(wanted, self.hold / self._per_item)
        return max(1, min(self.cap, int(wanted), self._ramp))

    def observe(self, items: int, elapsed: float) -> None:
        if self.fixed is not None or items <= 0:
            return
        per_item = elapsed / items
        self._per_item = per_item if self._per_item is None else 0.7 * self._per_item + 0.3 * per_item
        # Grow at most 4x per measurement so one lucky chunk does not jump to the cap.
        self._ramp = min(self.cap, max(self._ramp, 1) * 4)
