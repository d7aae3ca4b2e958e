"""Progress display: plain lines, the tqdm bar, and progress=True in the library."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import gearshift
from gearshift._progress import Progress, choose_style


def test_lines_show_counts_rate_eta_failures_mode_and_workers() -> None:
    out = io.StringIO()
    p = Progress(total=10, label="thread x4", style="lines", stream=out, interval=0)
    p(0, [1, 2, 3], 0)
    p(3, [gearshift.Failure(3, ValueError(), "", 1)], 1)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("gearshift: 3/10 items (30%) | ")
    assert "ETA " in lines[0]
    assert lines[-1].startswith("gearshift: 4/10 items (40%) | ")
    assert lines[-1].endswith("| 1 failed | thread x4")


def test_unknown_total_has_no_eta() -> None:
    p = Progress(total=None, label="sync x1", style="none", stream=io.StringIO())
    p(0, [1], 0)
    assert p.summary().startswith("1 items | ")
    assert "ETA" not in p.summary()


def test_resumed_items_count_as_done_but_not_in_the_rate() -> None:
    p = Progress(total=100, label="sync x1", style="none", stream=io.StringIO(), initial=90)
    assert p.summary().startswith("90/100 items (90%) | 0.0 items/s")


def test_bar_draws_with_tqdm() -> None:
    out = io.StringIO()
    p = Progress(total=5, label="process x2", style="bar", stream=out)
    p(0, [1, 2, 3, 4, 5], 0)
    p.close()
    text = out.getvalue()
    assert "process x2" in text and "5/5" in text and "0 failed" in text


def test_style_follows_the_terminal() -> None:
    assert choose_style(io.StringIO(), when_not_a_terminal="lines") == "lines"
    assert choose_style(io.StringIO(), when_not_a_terminal="none") == "none"


def test_map_progress_is_silent_when_not_a_terminal() -> None:
    code = "import gearshift; print(gearshift.map(abs, [-1, -2], mode='thread', progress=True))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[1, 2]"
    assert out.stderr == ""


def test_map_progress_on_a_terminal_shows_a_bar() -> None:
    import os
    import pty

    code = "import gearshift; gearshift.map(abs, range(500), mode='thread', progress=True)"
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=child_fd, stdout=subprocess.DEVNULL)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(main_fd)
    screen = b"".join(chunks).decode()
    assert "500/500" in screen and "thread x" in screen


def test_import_gearshift_does_not_import_tqdm() -> None:
    code = "import sys, gearshift; print('tqdm' in sys.modules, 'sqlite3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False"


def test_label_can_follow_a_changing_plan() -> None:
    labels = iter(["auto (measuring)", "auto: process x2"])
    out = io.StringIO()
    p = Progress(total=4, label=lambda: next(labels), style="lines", stream=out, interval=0)
    p(0, [1, 2], 0)
    p.close()
    assert out.getvalue().splitlines()[0].endswith("| auto: process x2")


@pytest.mark.parametrize("entry", ["map", "imap", "amap", "aimap"])
def test_every_entry_point_drives_the_bar(entry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from gearshift import _progress

    out = io.StringIO()
    monkeypatch.setattr(_progress, "choose_style", lambda stream, when_not_a_terminal: "bar")
    monkeypatch.setattr(sys, "stderr", out)
    items = list(range(50))
    if entry == "map":
        results = gearshift.map(abs, items, mode="thread", progress=True)
    elif entry == "imap":
        results = list(gearshift.imap(abs, items, mode="thread", progress=True))
    elif entry == "amap":
        results = asyncio.run(gearshift.amap(abs, items, mode="thread", progress=True))
    else:

        async def collect() -> list[int]:
            return [r async for r in gearshift.aimap(abs, items, mode="thread", progress=True)]

        results = asyncio.run(collect())
    assert results == items
    assert "50/50" in out.getvalue()
    assert "thread x" in out.getvalue()
