"""The :class:`Workload` record: one benchmark function, its items and its check.

Apart from the registry (:mod:`.workloads`) so that the modules defining the
jobs (:mod:`.jobs`, :mod:`.jobs_net`, :mod:`.jobs_files`) stay light: a worker
process unpickles a job by importing its module, and should import what the job
needs, as a user's function would, not every workload and server.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

__all__ = ["Kind", "Server", "Workload"]

Kind = Literal["tiny", "cpu", "cpu-nogil", "io", "async-io", "mixed"]
Server = Literal["http", "aio"]


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark workload: ``fn`` over ``make_items(scale, url)``."""

    name: str
    kind: Kind
    fn: Callable[..., Any]
    #: ``make_items(scale, url=None) -> list``: ``scale`` items (``url``: the server's base URL)
    make_items: Callable[..., list[Any]]
    description: str
    #: items in a full run, and in a ``--quick`` run
    scale: int
    quick_scale: int
    #: ``check(items, results)`` raises AssertionError when a result is wrong
    check: Callable[[Sequence[Any], Sequence[Any]], None]
    #: the local server the items talk to, if any
    server: Server | None = None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def items(self, scale: int | None = None, url: str | None = None, *, quick: bool = False) -> list[Any]:
        """The items for ``scale`` (default: the full or quick scale)."""
        if scale is None:
            scale = self.quick_scale if quick else self.scale
        if self.server is not None and url is None:
            raise ValueError(f"workload {self.name!r} needs the URL of a running {self.server!r} server")
        return self.make_items(scale, url)
