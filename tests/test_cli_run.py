"""``gearshift run``: results, exit codes, checkpoints, and resuming after SIGINT and SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from gearshift._cli import main
from gearshift._cli._run import checkpoint_path

pytestmark = pytest.mark.alone  # what a kill -9 may lose is a time bound

JOBS = textwrap.dedent(
    """
    import os, time

    def square(x):
        if x == 13:
            raise ValueError("unlucky")
        return x * x

    def slow_square(x):
        # Logs every call, tagged with the attempt, so a test can tell which run did what.
        with open(os.environ["GS_CALL_LOG"], "a") as log:
            log.write(f"{os.environ['GS_ATTEMPT']} {x}\\n")
        time.sleep(0.004)
        return x * x

    def busy_square(x):
        # CPU-bound (holds the GIL for about 2 ms), logged like slow_square.
        with open(os.environ["GS_CALL_LOG"], "a") as log:
            log.write(f"{os.environ['GS_ATTEMPT']} {x}\\n")
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass
        return x * x

    def not_json(x):
        return {1, 2} if x == 1 else x

    async def asquare(x):
        return x * x
    """
)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jobs_run.py").write_text(JOBS)
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in range(40)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearshift", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("mode", ["sync", "thread", "process", "async"])
def test_run_in_process_writes_every_result_in_order(work: Path, mode: str) -> None:
    code = main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--mode", mode,
                 "--errors", "return", "--quiet"])  # fmt: skip
    assert code == 1  # item 13 failed
    records = read_output(work / "out.jsonl")
    assert [r["index"] for r in records] == list(range(40))
    assert all(r["value"] == i * i for i, r in enumerate(records) if i != 13)
    failed = records[13]
    assert failed["error"] == "ValueError: unlucky"
    assert "raise ValueError" in failed["traceback"]
    assert failed["attempts"] == 1
    assert not checkpoint_path(work / "out.jsonl").exists()  # removed once the output is complete


def test_unordered_still_writes_in_input_order(work: Path) -> None:
    args = ["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--unordered", "--mode", "thread"]
    assert main([*args, "--errors", "return", "-q", "--workers", "4", "--chunksize", "3"]) == 1
    assert [r["index"] for r in read_output(work / "out.jsonl")] == list(range(40))


def test_input_must_be_a_regular_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(work / "pipe")
    assert main(["run", "jobs_run:square", "-i", "pipe", "-o", "out.jsonl", "-q"]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_resume_without_a_checkpoint_starts_from_the_first_item(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "jobs_run:asquare", "-i", "in.jsonl", "-o", "out.jsonl", "--resume"]) == 0
    assert "nothing to resume, starting from the first item" in capsys.readouterr().err
    assert len(read_output(work / "out.jsonl")) == 40


def test_async_function_and_success_exit_0(work: Path) -> None:
    assert main(["run", "jobs_run:asquare", "-i", "in.jsonl", "-o", "out.jsonl", "-q"]) == 0
    assert [r["value"] for r in read_output(work / "out.jsonl")] == [i * i for i in range(40)]


def test_retries_are_counted_in_attempts(work: Path) -> None:
    main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--retries", "2", "--errors", "return", "-q"])
    assert read_output(work / "out.jsonl")[13]["attempts"] == 3


def test_errors_raise_stops_and_keeps_the_checkpoint(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--mode", "sync", "--chunksize", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "item 13 failed after 1 attempt(s): ValueError: unlucky" in err
    assert "--resume" in err
    assert not (work / "out.jsonl").exists()
    assert checkpoint_path(work / "out.jsonl").exists()
    # Fixed by recording the failure instead: the 13 items done are not run again.
    code = main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--errors", "return", "--resume"])
    assert code == 1
    assert "resuming: 13 of 40 items already done" in capsys.readouterr().err
    assert len(read_output(work / "out.jsonl")) == 40


def test_unserialisable_result_is_a_failure_of_that_item(work: Path) -> None:
    assert main(["run", "jobs_run:not_json", "-i", "in.jsonl", "-o", "out.jsonl", "--errors", "return", "-q"]) == 1
    records = read_output(work / "out.jsonl")
    assert "not JSON serializable" in records[1]["error"]
    assert records[2]["value"] == 2


def test_plain_lines_input(work: Path) -> None:
    (work / "words.txt").write_text("a\nbb\nccc\n")
    (work / "lens.py").write_text("def length(s):\n    return len(s)\n")
    assert main(["run", "lens:length", "-i", "words.txt", "--lines", "-o", "out.jsonl", "-q"]) == 0
    assert [r["value"] for r in read_output(work / "out.jsonl")] == [1, 2, 3]


def test_existing_checkpoint_without_resume_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "-q", "--mode", "sync", "--chunksize", "1"])
    capsys.readouterr()
    assert main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "-q"]) == 2
    err = capsys.readouterr().err
    assert "a checkpoint of an unfinished run is at" in err
    assert "(13 of 40 items done)" in err
    assert err.count("\n") == 1


def test_resume_of_a_different_run_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "-q", "--mode", "sync", "--chunksize", "1"])
    capsys.readouterr()
    assert main(["run", "jobs_run:asquare", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume: the checkpoint at" in err
    assert "function was 'jobs_run:square', now 'jobs_run:asquare'" in err
    (work / "in.jsonl").write_text("".join(f"{i}\n" for i in range(41)))
    assert main(["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", "-q"]) == 2
    assert "size was" in capsys.readouterr().err


def test_store_url_for_the_checkpoint(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = work / "elsewhere.sqlite"
    args = ["run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "-q", "--store", f"sqlite:///{store}"]
    assert main([*args, "--mode", "sync", "--chunksize", "1"]) == 1
    assert store.exists()
    assert not checkpoint_path(work / "out.jsonl").exists()
    assert main([*args, "--resume", "--errors", "return"]) == 1
    first = read_output(work / "out.jsonl")
    assert len(first) == 40
    assert store.exists()  # a store given by URL outlives the run, marked finished
    assert main(args) == 2
    assert "holds a finished run of jobs_run:square" in capsys.readouterr().err
    (work / "out.jsonl").unlink()
    assert main([*args, "--resume", "--errors", "return"]) == 1  # nothing runs; the output is written again
    assert read_output(work / "out.jsonl") == first
    assert main([*args[:-2], "--store", "ftp://x"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope_mod:f", "-i", "in.jsonl"], "cannot import module 'nope_mod'"),
        (["jobs_run:nope", "-i", "in.jsonl"], "has no function 'nope'"),
        (["jobs_run:square", "-i", "missing.jsonl"], "cannot read input missing.jsonl"),
        (["jobs_run:square", "-i", "bad.jsonl"], "bad.jsonl, line 2: not valid JSON"),
        (["jobs_run:square", "-i", "in.jsonl", "--workers", "0"], "workers must be >= 1"),
    ],
)
def test_usage_errors_are_one_line_exit_2_as_subprocess(work: Path, args: list[str], message: str) -> None:
    (work / "bad.jsonl").write_text("1\n[2,\n")
    out = cli("run", *args, "-o", "out.jsonl", cwd=work)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_non_terminal_progress_is_plain_lines(work: Path) -> None:
    out = cli("run", "jobs_run:square", "-i", "in.jsonl", "-o", "out.jsonl", "--errors", "return",
              "--progress-interval", "0", cwd=work)  # fmt: skip
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.startswith("gearshift: ")]
    assert lines[-2].startswith("gearshift: 40/40 items (100%) | ")
    assert "| 1 failed | " in lines[-2]
    assert "\r" not in out.stderr
    assert lines[-1] == "gearshift: wrote 40 results to out.jsonl (1 failed)"


def test_quiet_prints_nothing(work: Path) -> None:
    out = cli("run", "jobs_run:asquare", "-i", "in.jsonl", "-o", "out.jsonl", "--quiet", cwd=work)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_terminal_progress_is_a_bar(work: Path) -> None:
    import pty

    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gearshift", "run", "jobs_run:asquare", "-i", "in.jsonl", "-o", "out.jsonl"],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child_fd,
    )  # fmt: skip
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
    assert "40/40" in screen
    assert "|" in screen and "\r" in screen  # a bar redrawn in place
    assert "0 failed" in screen


# -- killed runs ---------------------------------------------------------------------


def _done_indices(db: Path) -> set[int]:
    conn = sqlite3.connect(db)
    try:
        return {i for (i,) in conn.execute("SELECT idx FROM results")}
    except sqlite3.OperationalError:  # the run has not created its tables yet
        return set()
    finally:
        conn.close()


def _start(work: Path, attempt: int, mode: str, resume: bool, fn: str = "slow_square") -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "gearshift", "run", f"jobs_run:{fn}", "-i", "many.jsonl", "-o", "out.jsonl",
            "--mode", mode, "--quiet"] + (["--resume"] if resume else [])  # fmt: skip
    env = {**os.environ, "GS_CALL_LOG": str(work / "calls.log"), "GS_ATTEMPT": str(attempt)}
    return subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _calls(work: Path) -> list[tuple[int, int]]:
    path = work / "calls.log"
    if not path.exists():
        return []
    return [(int(a), int(x)) for a, x in (line.split() for line in path.read_text().splitlines() if line.strip())]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("mode", "fn", "n", "seed"),
    [
        ("thread", "slow_square", 3000, 1),
        ("process", "slow_square", 1000, 2),
        ("sync", "slow_square", 500, 3),
        ("auto", "busy_square", 2000, 4),  # auto measures first: its segments must keep their input indices
    ],
)
def test_sigkill_at_random_points_then_resume(work: Path, mode: str, fn: str, n: int, seed: int) -> None:
    """Kill a real run with SIGKILL at random points, up to three times; --resume then ends with every item once.

    Items recorded in the checkpoint before a kill are never run again afterwards.
    """
    (work / "many.jsonl").write_text("".join(f"{i}\n" for i in range(n)))
    db = checkpoint_path(work / "out.jsonl")
    rng = random.Random(seed)
    done_after: dict[int, set[int]] = {}
    finished = False
    for attempt in range(1, 4):
        before = len(_done_indices(db)) if db.exists() else 0
        proc = _start(work, attempt, mode, resume=attempt > 1, fn=fn)
        # A random point after this attempt has checkpointed something (start-up time varies a lot).
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if db.exists() and len(_done_indices(db)) > before:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.8))
        if proc.poll() is not None:  # it finished first: fine, if an earlier attempt was killed
            assert proc.wait() == 0, proc.communicate()[1].decode()
            finished = True
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        done_after[attempt] = _done_indices(db) if db.exists() else set()
    assert done_after, "the first run finished before it could be killed: make the work longer"
    if not finished:
        proc = _start(work, 4, mode, resume=True, fn=fn)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert any(done_after.values()), "nothing was checkpointed before the kills"
    records = read_output(work / "out.jsonl")
    assert [r["index"] for r in records] == list(range(n))
    assert [r["value"] for r in records] == [i * i for i in range(n)]
    calls = _calls(work)
    for killed, done in done_after.items():
        rerun = {x for a, x in calls if a > killed} & done
        assert not rerun, f"items checkpointed before kill {killed} ran again: {sorted(rerun)[:10]}"
    assert not db.exists()


def test_sigint_exits_130_and_resume_completes(work: Path) -> None:
    n = 2000  # about 1.3 s on 6 threads: the run must still be going when the signal comes
    (work / "many.jsonl").write_text("".join(f"{i}\n" for i in range(n)))
    proc = _start(work, 1, "thread", resume=False)
    db = checkpoint_path(work / "out.jsonl")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (db.exists() and _done_indices(db)):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "--resume" in err.decode()
    done = _done_indices(db)
    assert done
    proc = _start(work, 2, "thread", resume=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert [r["index"] for r in read_output(work / "out.jsonl")] == list(range(n))
    assert not ({x for a, x in _calls(work) if a == 2} & done)
