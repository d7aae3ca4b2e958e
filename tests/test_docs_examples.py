"""Every ```python example in the README and the docs runs, so no example can rot.

Each fenced ``python`` block of ``README.md`` and ``docs/**/*.md`` is one test: it is written to
a file and run as a script in a fresh interpreter (a temporary working directory, this tree's
``src`` first on the path), and must exit 0. Two HTML comments, invisible on the site, steer it:

- ``<!-- docs-test: skip REASON -->`` on the line before a fence skips it, with the reason
  (a cluster, a package that is not installed, a program that never ends by design).
- ``<!-- docs-test: output -->`` on the line before a ``text`` fence that follows a python fence
  makes that text the exact expected standard output of the example.

Examples are kept small (a few seconds at most), and two run at a time (most of them wait, or
start worker processes): the whole runner fits in about 30 s on CI's two cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(.+?)\s*-->")
OUTPUT = re.compile(r"<!--\s*docs-test:\s*output\s*-->")
FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)\s*$")


@dataclass
class Example:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None
    expected: str | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    docs = [
        p
        for p in sorted((ROOT / "docs").rglob("*.md"))
        if not {"_build", "_generated"} & set(p.relative_to(ROOT / "docs").parts)
    ]
    return [ROOT / "README.md", *docs]


def _closes(line: str, fence: str) -> bool:
    """A closing fence: only the opening fence's character, at least as many times."""
    mark = line.strip()
    return len(mark) >= len(fence) and mark == fence[0] * len(mark)


def _blocks(text: str) -> list[tuple[int, str, str, str]]:
    """(line, language, body, the line before the fence) for every fenced block of a page."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2)
        start = i
        i += 1
        body = []
        while i < len(lines) and not _closes(lines[i], fence):
            body.append(lines[i])
            i += 1
        i += 1
        before = lines[start - 1] if start > 0 else ""
        out.append((start + 1, lang, "\n".join(body) + "\n", before))
    return out


def examples(path: Path) -> list[Example]:
    found: list[Example] = []
    for line, lang, body, before in _blocks(path.read_text()):
        if lang == "python":
            skip = SKIP.search(before)
            found.append(Example(path, line, body, skip.group(1) if skip else None, None))
        elif OUTPUT.search(before) and found:
            found[-1].expected = body
    return found


ALL = [example for page in pages() for example in examples(page)]


def test_the_runner_finds_the_examples() -> None:
    """A broken parser would make every example pass by finding none."""
    by_page = {e.path.name for e in ALL}
    assert {"README.md", "models.md", "getting-started.md"} <= by_page
    assert len(ALL) >= 20


def test_fences_are_parsed(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nprint(1)\n```\n\n<!-- docs-test: output -->\n```text\n1\n```\n\n"
        "<!-- docs-test: skip needs a cluster -->\n```python\nimport dask\n```\n\n```console\n$ ls\n```\n"
    )
    found = examples(page)
    assert [(e.line, e.code, e.skip, e.expected) for e in found] == [
        (3, "print(1)\n", None, "1\n"),
        (13, "import dask\n", "needs a cluster", None),
    ]


def _run(example: Example) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "example.py"
        script.write_text(example.code)
        path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
        return subprocess.run(
            [sys.executable, str(script)],
            cwd=folder,
            env=dict(os.environ, PYTHONPATH=path),
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every example started up front, two at a time, in page order; each test waits for its own."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {e.id: pool.submit(_run, e) for e in ALL if not e.skip}
        yield futures
        for future in futures.values():
            future.cancel()


# slow: CI's lowest-versions run leaves them out (they test the docs, not the dependency floors,
# and cost about 30 s there too); the main run has them.
@pytest.mark.slow
@pytest.mark.parametrize("example", ALL, ids=[e.id for e in ALL])
def test_example_runs(example: Example, runs: dict[str, Future[subprocess.CompletedProcess[str]]]) -> None:
    if example.skip:
        pytest.skip(example.skip)
    out = runs[example.id].result(timeout=55)
    assert out.returncode == 0, f"{example.id} failed:\n{out.stdout}\n{out.stderr}"
    if example.expected is not None:
        assert out.stdout == example.expected, f"{example.id}: the output differs from the page's"
