"""``Backend.warm(fn)``: workers load the run's function (and import what it needs) before any work arrives.

Auto starts a cold pool and runs items on the calling thread meanwhile; when
the calling thread finishes them all, the workers got nothing, and the next
run's first chunks used to pay the imports (a run of 24 NumPy items took
0.24 s instead of 0.08).  Each test's function lives in a module written to
``tmp_path`` whose import does something the test can see from outside.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gearshift import UnpicklableError
from gearshift._backends._process import Backend
from gearshift._task import CALL_ONE, Task

pytestmark = pytest.mark.timeout(90)


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, on_import: str) -> Any:
    """A module ``name`` in ``tmp_path`` (workers get the parent's sys.path) running ``on_import`` in workers."""
    (tmp_path / f"{name}.py").write_text(
        "import os, pathlib, time\n"
        f"HERE = pathlib.Path({str(tmp_path)!r})\n"
        f"if os.getpid() != {os.getpid()}:\n"
        + "".join(f"    {line}\n" for line in on_import.splitlines())
        + "def fn(x):\n    return (os.getpid(), x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _until(condition: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def _marks(tmp_path: Path) -> set[int]:
    return {int(p.name[5:]) for p in tmp_path.glob("mark-*")}


def test_each_worker_imports_the_function_s_module_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module(tmp_path, monkeypatch, "gs_prime_marks", "(HERE / f'mark-{os.getpid()}').touch()")
    backend = Backend(2)
    try:
        backend.warm(module.fn)
        assert _until(backend.ready)
        pids = {w.proc.pid for w in backend._procs}
        assert len(pids) == 2
        assert _marks(tmp_path) == pids  # imported by each worker, with no task sent
        future = backend.submit(Task(fn=module.fn, items=[7], call=CALL_ONE, fn_id=1))
        pid, x = future.result(timeout=30).outcomes[0]
        assert pid in pids and x == 7
        assert _marks(tmp_path) == pids  # the task found the module imported: not imported again
    finally:
        backend.shutdown()


def test_ready_waits_until_the_workers_have_loaded_the_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module(
        tmp_path,
        monkeypatch,
        "gs_prime_gated",
        "(HERE / f'mark-{os.getpid()}').touch()\nwhile not (HERE / 'go').exists():\n    time.sleep(0.01)",
    )
    backend = Backend(2)
    try:
        backend.warm(module.fn)
        # Both workers started and are importing: said hello, not ready to run fn at once.
        assert _until(lambda: len(_marks(tmp_path)) == 2 and all(w.ready for w in backend._procs))
        assert not backend.ready()
        (tmp_path / "go").touch()
        assert _until(backend.ready)
    finally:
        (tmp_path / "go").touch()
        backend.shutdown()


def test_shutdown_kills_a_worker_still_importing_for_work_that_never_came(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module(
        tmp_path, monkeypatch, "gs_prime_endless", "(HERE / f'mark-{os.getpid()}').touch()\ntime.sleep(600)"
    )
    backend = Backend(2)
    backend.warm(module.fn)
    assert _until(lambda: len(_marks(tmp_path)) == 2)
    pids = _marks(tmp_path)
    t0 = time.monotonic()
    backend.shutdown(wait=True)
    assert time.monotonic() - t0 < 10  # not the import's 600 s (nor the 5 s a worker is given to exit)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_module_that_fails_to_import_there_fails_the_items_as_without_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module(tmp_path, monkeypatch, "gs_prime_broken", "raise RuntimeError('no such thing in a worker')")
    errors = []
    for warm in (True, False):
        backend = Backend(1)
        try:
            if warm:
                backend.warm(module.fn)
                assert _until(backend.ready)  # the prime's failure is swallowed: the worker serves on
            future = backend.submit(Task(fn=module.fn, items=[1, 2], call=CALL_ONE, fn_id=1))
            with pytest.raises(UnpicklableError, match="no such thing in a worker") as caught:
                future.result(timeout=30)
            errors.append(str(caught.value))
        finally:
            backend.shutdown()
    warmed, cold = errors
    assert warmed == cold
