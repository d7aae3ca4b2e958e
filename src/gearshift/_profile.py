"""What was measured about a function on a sample of its items: a frozen record of facts.

A :class:`Profile` holds raw per-item samples and derived figures; it makes no
decision (that is :func:`gearshift._auto.decide.decide`'s job) and runs nothing
(that is :mod:`gearshift._auto.measure`'s).  Keeping facts apart from policy lets the
planner be tested with synthetic profiles.
"""

from __future__ import annotations

from ._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._native import NativeUse

__all__ = ["Profile", "fmt_bytes", "fmt_seconds", "median"]


def fmt_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: ``41 ms``, ``0.8 µs``, ``2.1 s``."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    micros = seconds * 1e6
    return f"{micros:.0f} µs" if micros >= 10 else f"{micros:.2g} µs"


def fmt_bytes(size: float) -> str:
    """A size in the unit that reads best: ``60 bytes``, ``8.4 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{int(size)} bytes"


class Profile(Record, frozen=True, slots=True):
    """Measured facts about ``fn`` on a sample of items.

    ``wall`` and ``cpu`` are per-item wall and calling-thread CPU seconds for
    items run one at a time, in input order: one figure per chunk of 1, 2, 4...
    items, so the first is the first item alone (it shows the warm-up) and the
    later ones average away timer overhead.  ``items`` counts every item run
    while measuring, ``failures`` those that raised.
    ``thread_scaling`` is how much faster ``threads`` threads got through items
    than one thread (1.0: the GIL is held; close to ``threads``: it scales);
    ``threads_cpu`` is the process's CPU seconds per wall second meanwhile
    (cores kept busy).  ``gil_free`` is the share of that time another thread
    could take the GIL at once (near 0: the work holds it; near 1: it releases
    it), measured by a thread that wakes up every millisecond next to them.
    ``loop_blocked`` is, for an ``async def``, the share of
    an item's wall time during which its event loop could not run anything
    else.  Pickle figures are medians over the sample; ``unpicklable`` says why
    process mode is impossible, if it is.  ``item_bytes`` without
    ``item_pickle_seconds`` is the size of big buffers whose pickling
    ``mode="auto"`` skipped, because processes could not win anyway; for such
    items auto also takes its second look on the thread probe, so the second
    figure of ``wall`` and ``cpu`` is a probed item's (its own CPU time, and
    the wall the first item's ratio gives).  ``preempted`` is the time the
    sampled items spent waiting for a CPU (a busy machine), taken out of
    ``wall`` so that it does not pass for I/O.  ``native`` is what the items
    did with native thread pools (BLAS, OpenMP), when they kept more than the
    calling thread busy.  ``first_imports`` is how many modules the first item
    loaded (its first call's imports: a fresh worker process pays them again).
    None means "not measured".
    """

    is_async: bool
    wall: tuple[float, ...]
    cpu: tuple[float, ...]
    items: int = 0
    failures: int = 0
    threads: int = 0
    thread_scaling: float | None = None
    threads_cpu: float | None = None
    gil_free: float | None = None
    loop_blocked: float | None = None
    fn_bytes: int | None = None
    fn_pickle_seconds: float | None = None
    item_bytes: int | None = None
    item_pickle_seconds: float | None = None
    result_bytes: int | None = None
    result_pickle_seconds: float | None = None
    unpicklable: str | None = None
    gil_enabled: bool = True
    preempted: float = 0.0
    native: NativeUse | None = None
    first_imports: int = 0

    # -- derived figures --------------------------------------------------------

    @property
    def samples(self) -> int:
        """Figures in ``wall`` (chunks measured one after the other)."""
        return len(self.wall)

    @property
    def median_wall(self) -> float:
        """Typical wall time per item (the first, warm-up item left out when there are others)."""
        return median(self.wall[1:] or self.wall)

    @property
    def median_cpu(self) -> float:
        """Typical CPU time per item, on the calling thread."""
        return median(self.cpu[1:] or self.cpu)

    @property
    def median_wait(self) -> float:
        """Typical time per item spent neither computing on this thread: waiting (I/O, sleeps, locks)."""
        return max(0.0, self.median_wall - self.median_cpu)

    @property
    def cpu_share(self) -> float:
        """CPU time over wall time per item: near 1 for CPU-bound work, near 0 for waiting."""
        wall = self.median_wall
        return min(1.0, self.median_cpu / wall) if wall > 0 else 1.0

    @property
    def p90_wall(self) -> float:
        """The 90th percentile of the per-item wall times."""
        if not self.wall:
            return 0.0
        ordered = sorted(self.wall)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    @property
    def warmup(self) -> float:
        """The first item's wall time over the typical one (1.0: no warm-up cost)."""
        if len(self.wall) < 2 or self.median_wall <= 0:
            return 1.0
        return self.wall[0] / self.median_wall

    @property
    def import_seconds(self) -> float:
        """What the first item's imports cost: its wall time past the typical one, when it loaded modules
        and other items were measured after it (0.0 otherwise).  Each fresh worker process pays it again."""
        if not self.first_imports or len(self.wall) < 2:
            return 0.0
        return max(0.0, self.wall[0] - self.median_wall)

    @property
    def outliers(self) -> int:
        """Items (after the first) that took more than 4x the typical wall time."""
        limit = 4 * self.median_wall
        return sum(1 for w in self.wall[1:] if w > limit)

    @property
    def ipc_seconds(self) -> float | None:
        """Pickling work per item for process mode (item and result, both ways), or None."""
        if self.item_pickle_seconds is None or self.result_pickle_seconds is None:
            return None
        return 2 * (self.item_pickle_seconds + self.result_pickle_seconds)

    @property
    def ipc_bytes(self) -> int | None:
        """Bytes per item sent to and from a worker process, or None."""
        if self.item_bytes is None or self.result_bytes is None:
            return None
        return self.item_bytes + self.result_bytes

    # -- printing --------------------------------------------------------------

    def summary(self) -> list[str]:
        """Short lines stating the measured figures."""
        lines: list[str] = []
        if self.wall:
            lines.append(
                f"{self.items} items, one at a time in {self.samples} chunks: "
                f"wall per item median {fmt_seconds(self.median_wall)} "
                f"(first {fmt_seconds(self.wall[0])}, p90 {fmt_seconds(self.p90_wall)}, "
                f"max {fmt_seconds(max(self.wall))}, {self.outliers} outliers), "
                f"CPU median {fmt_seconds(self.median_cpu)}, waiting {fmt_seconds(self.median_wait)}"
            )
        if self.preempted > 0.1 * sum(self.wall):
            lines.append(f"the machine is busy: {fmt_seconds(self.preempted)} spent waiting for a CPU (left out)")
        if self.thread_scaling is not None:
            gil = "" if self.gil_free is None else f", the GIL free {self.gil_free:.0%} of the time"
            lines.append(
                f"{self.threads} threads at once: {self.thread_scaling:.2f}x the throughput of one, "
                f"{self.threads_cpu or 0:.2f} cores busy{gil} "
                f"({'GIL build' if self.gil_enabled else 'free-threaded build'})"
            )
        if self.native is not None:
            lines.append(self.native.summary())
        if self.loop_blocked is not None:
            lines.append(f"async def: its event loop was blocked {self.loop_blocked:.0%} of each item's time")
        if self.unpicklable is not None:
            lines.append(f"cannot go to processes: {self.unpicklable}")
        elif self.item_bytes is not None and self.item_pickle_seconds is None:
            lines.append(f"items hold {fmt_bytes(self.item_bytes)} buffers (their pickling not measured)")
        elif self.item_bytes is not None and self.result_bytes is not None:
            lines.append(
                f"pickled: item {fmt_bytes(self.item_bytes)} in {fmt_seconds(self.item_pickle_seconds or 0)}, "
                f"result {fmt_bytes(self.result_bytes)} in {fmt_seconds(self.result_pickle_seconds or 0)}, "
                f"fn {fmt_bytes(self.fn_bytes or 0)}"
            )
        if self.failures:
            lines.append(f"{self.failures} sampled items raised")
        return lines

    def __str__(self) -> str:
        kind = "async def" if self.is_async else "function"
        return "\n".join([f"Profile of a {kind}:", *(f"  - {line}" for line in self.summary())])

    def __repr__(self) -> str:
        parts = [f"is_async={self.is_async}", f"items={self.items}"]
        if self.failures:
            parts.append(f"failures={self.failures}")
        if self.wall:
            parts += [f"median_wall={self.median_wall:.3g}", f"median_cpu={self.median_cpu:.3g}"]
        if self.thread_scaling is not None:
            parts.append(f"thread_scaling={self.thread_scaling:.2f}")
        if self.gil_free is not None:
            parts.append(f"gil_free={self.gil_free:.2f}")
        if self.loop_blocked is not None:
            parts.append(f"loop_blocked={self.loop_blocked:.2f}")
        if self.item_bytes is not None:
            parts.append(f"item_bytes={self.item_bytes}")
        if self.result_bytes is not None:
            parts.append(f"result_bytes={self.result_bytes}")
        if self.unpicklable is not None:
            parts.append(f"unpicklable={self.unpicklable!r}")
        return f"Profile({', '.join(parts)})"


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (0.0 for none), taken here: ``statistics.median`` would load decimal
    and fractions on auto's path (3 ms of a script's start) for this one figure."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if not ordered:
        return 0.0
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
