"""The options' types, for type checkers and for code that reads them at run time (loads :mod:`typing`).

:mod:`gearshift._options` names them only for type checkers, and hands them
out at run time on first use (PEP 562): the runs themselves never read a type,
and a script's auto call would otherwise load :mod:`typing`, with the ``re`` and
``enum`` it imports, for them (about 5 ms on a 2-CPU host).
"""

from __future__ import annotations

import os
from typing import Any, Literal, TypedDict

__all__ = ["ErrorPolicy", "ExecutorMode", "Mode", "RetryOn", "RunOptions"]

Mode = Literal["auto", "sync", "async", "thread", "process", "dask", "ray"]
#: the modes an Executor runs in (it cannot measure work it has not seen: no "auto")
ExecutorMode = Literal["sync", "async", "thread", "process", "dask", "ray"]
ErrorPolicy = Literal["raise", "return"]
#: ``retry_on=``: one exception class or a tuple of them (None: every failure is retried)
RetryOn = type[BaseException] | tuple[type[BaseException], ...] | None


class RunOptions(TypedDict, total=False):
    """The keyword options of ``map``, ``imap``, ``starmap``, ``amap``, ``aimap`` and ``advise``.

    This is what a type checker sees (``**options: Unpack[RunOptions]``); the
    run time's view is :class:`~gearshift._options.Options`, whose fields carry
    each option's default, check and command-line flag.  The two list the same
    options with the same types (tests/test_options_spec.py checks it).
    ``errors`` is not here: each entry point takes it as its own keyword,
    because it decides the type of the results (``Failure`` among them or not).
    """

    mode: Mode
    workers: int | None
    chunksize: int | None
    ordered: bool
    timeout: float | None
    retries: int
    progress: bool
    retry_on: RetryOn
    address: str | None
    client: Any
    buffer_bytes: int
    trace: str | os.PathLike[str] | None
