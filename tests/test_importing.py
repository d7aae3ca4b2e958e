"""gearshift._importing: whether a thread is inside an import, read from another thread."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from gearshift._importing import importing


def test_a_thread_inside_an_import_is_importing_and_not_before_or_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a module whose body waits until told: the thread importing it is inside the import meanwhile
    (tmp_path / "gearshift_test_held_import.py").write_text(
        "import threading\nentered = threading.Event()\nrelease = threading.Event()\n"
    )
    (tmp_path / "gearshift_test_slow_import.py").write_text(
        "from gearshift_test_held_import import entered, release\nentered.set()\nrelease.wait(30)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import gearshift_test_held_import as held  # type: ignore[import-not-found]

    go = threading.Event()

    def load() -> None:
        go.wait(30)
        import gearshift_test_slow_import  # type: ignore[import-not-found]  # noqa: F401

    thread = threading.Thread(target=load)
    thread.start()
    try:
        assert thread.ident is not None
        assert not importing(thread.ident)  # (it waits for go: no import yet)
        go.set()
        assert held.entered.wait(30)
        assert importing(thread.ident)
        assert not importing(threading.get_ident())  # (this thread is not importing)
    finally:
        held.release.set()
        thread.join(30)
    assert not importing(thread.ident)  # a thread that is gone
    for name in ("gearshift_test_held_import", "gearshift_test_slow_import"):
        sys.modules.pop(name, None)


def test_a_module_already_loaded_is_no_import() -> None:
    seen: list[bool] = []
    me = threading.get_ident()

    def look() -> None:
        import json  # noqa: F401  (loaded already: no importlib frame)

        seen.append(importing(me))

    look()
    assert seen == [False]
