"""Every ```python example in the README and the docs runs, so no example can rot.

Each fenced ``python`` block of ``README.md`` and ``docs/**/*.md`` is one test: it is written to
a file and run as a script in a fresh interpreter (a temporary working directory, this tree's
``src`` first on the path), and must exit 0. HTML comments on the line before a fence, invisible
on the site, steer it:

- ``<!-- docs-test: skip REASON -->`` skips it, with the reason (for what no test machine can
  run; CI's can run every example the docs have today).
- ``<!-- docs-test: output -->`` on the line before a ``text`` fence that follows a python fence
  makes that text the exact expected standard output of the example.
- ``<!-- docs-test: dask-scheduler ADDRESS -->``: the example talks to a dask cluster at the
  placeholder ADDRESS a reader sees (``tcp://scheduler:8786``). The runner starts a real ``dask
  scheduler`` and ``dask worker`` on 127.0.0.1 (once, for every such example) and runs the example
  with their real address written in place of the placeholder.
- ``<!-- docs-test: ray-head ADDRESS -->``: the same with a real ``ray start --head`` on
  127.0.0.1; such examples run on demand (``pytest -m ray``), like the other Ray tests.
- ``<!-- docs-test: display -->``: the example opens a window; it runs on a virtual X display
  (Xvfb, which ``.ci/run`` installs), and must close its window itself.

Examples are kept small (a few seconds at most), and two run at a time (most of them wait, or
start worker processes): the whole runner took 43 s with ``-n 0`` on 2 shared cores at load 6, the
dask cluster's start included.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import stop_group
from local_clusters import dask_cluster, ray_auth, ray_head, with_src_first

ROOT = Path(__file__).resolve().parent.parent
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(.+?)\s*-->")
# a service the example needs: dask-scheduler/ray-head with the placeholder address it shows, or a display
NEEDS = re.compile(r"<!--\s*docs-test:\s*(dask-scheduler|ray-head)\s+(\S+)\s*-->|<!--\s*docs-test:\s*(display)\s*-->")
OUTPUT = re.compile(r"<!--\s*docs-test:\s*output\s*-->")
FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)\s*$")


@dataclass
class Example:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None
    expected: str | None
    needs: str | None = None  # "dask-scheduler", "ray-head" or "display"
    placeholder: str | None = None  # the address on the page that the real one replaces

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
            example = Example(path, line, body, skip.group(1) if skip else None, None)
            if need := NEEDS.search(before):
                example.needs = need.group(1) or need.group(3)
                example.placeholder = need.group(2)
                assert example.placeholder is None or example.placeholder in body, (
                    f"{path.name}:{line}: the address {example.placeholder} is not in the example"
                )
            found.append(example)
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


def test_service_directives_are_parsed(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: dask-scheduler tcp://scheduler:8786 -->\n```python\nconnect('tcp://scheduler:8786')\n```\n"
        "<!-- docs-test: ray-head head-node:6379 -->\n```python\nconnect('head-node:6379')\n```\n"
        "<!-- docs-test: display -->\n```python\nimport tkinter\n```\n"
    )
    assert [(e.needs, e.placeholder) for e in examples(page)] == [
        ("dask-scheduler", "tcp://scheduler:8786"),
        ("ray-head", "head-node:6379"),
        ("display", None),
    ]
    assert [m.name for m in _marks(examples(page)[1])] == ["ray", "timeout"]


def test_a_placeholder_missing_from_its_example_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: dask-scheduler tcp://scheduler:8786 -->\n```python\nconnect('tcp://s:1')\n```\n")
    with pytest.raises(AssertionError, match=r"the address tcp://scheduler:8786 is not in the example"):
        examples(page)


def test_the_real_address_replaces_the_placeholder() -> None:
    example = Example(ROOT / "page.md", 1, "print('tcp://scheduler:8786')\n", None, None, "dask-scheduler",
                      "tcp://scheduler:8786")  # fmt: skip
    out = _run(example, address="tcp://127.0.0.1:1234")
    assert out.stdout == "tcp://127.0.0.1:1234\n"


def _run(
    example: Example, address: str | None = None, env: dict[str, str] | None = None, timeout: float = 50
) -> subprocess.CompletedProcess[str]:
    """Run the example as a script; ``address`` replaces its placeholder address, ``env`` adds variables."""
    code = example.code
    if example.placeholder is not None:
        assert address is not None, f"{example.id} needs a {example.needs}"
        code = code.replace(example.placeholder, address)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "example.py"
        script.write_text(code)
        return subprocess.run(
            [sys.executable, str(script)],
            cwd=folder,
            env=dict(with_src_first(ROOT / "src"), **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every example started up front, two at a time, in page order; each test waits for its own."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {e.id: pool.submit(_run, e) for e in ALL if not e.skip and not e.needs}
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real scheduler + worker on 127.0.0.1, started by their command lines in a folder of their own."""
    pytest.importorskip("distributed", reason="distributed is not installed: pip install gearshift[dask]")
    with dask_cluster(tmp_path_factory.mktemp("dask_docs"), with_src_first(ROOT / "src")) as address:
        yield address


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``ray start --head`` on 127.0.0.1."""
    pytest.importorskip("ray", reason="ray is not installed: pip install gearshift[ray]")
    with ray_head(tmp_path_factory.mktemp("ray_docs"), with_src_first(ROOT / "src")) as address:
        yield address


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A virtual X display (Xvfb) for examples that open a window; its name, such as ":1"."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        message = "Xvfb is not installed (apt-get install xvfb): the examples that open a window need it"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run installs it: a CI without it would skip these silently
        pytest.skip(message)
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it to the pipe once it accepts clients
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            number = numbers.readline().strip()  # "" if Xvfb exited before it could listen
        assert number, f"Xvfb did not start (exit status {proc.wait(10)})"
        yield f":{number}"
    finally:
        stop_group(proc)


def _marks(example: Example) -> list[pytest.MarkDecorator]:
    if example.needs == "ray-head":
        # Ray's processes also use the machine's non-loopback address: on demand, like the other Ray tests
        return [pytest.mark.ray, pytest.mark.timeout(300)]
    if example.needs == "dask-scheduler":
        return [pytest.mark.timeout(120)]  # the first also starts the cluster (22 s with the example at load 14)
    return []


# slow: CI's lowest-versions run leaves them out (they test the docs, not the dependency floors,
# and cost about 30 s there too); the main run has them.
@pytest.mark.slow
@pytest.mark.parametrize("example", [pytest.param(e, id=e.id, marks=_marks(e)) for e in ALL])
def test_example_runs(
    example: Example, runs: dict[str, Future[subprocess.CompletedProcess[str]]], request: pytest.FixtureRequest
) -> None:
    if example.skip:
        pytest.skip(example.skip)
    if example.needs == "dask-scheduler":
        out = _run(example, address=request.getfixturevalue("dask_scheduler"))
    elif example.needs == "ray-head":
        out = _run(example, address=request.getfixturevalue("ray_address"), env=ray_auth(), timeout=240)
    elif example.needs == "display":
        out = _run(example, env={"DISPLAY": request.getfixturevalue("display")})
    else:
        out = runs[example.id].result(timeout=55)
    assert out.returncode == 0, f"{example.id} failed:\n{out.stdout}\n{out.stderr}"
    if example.expected is not None:
        assert out.stdout == example.expected, f"{example.id}: the output differs from the page's"
