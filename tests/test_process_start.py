"""How process workers start: light imports on both sides, the frame format, and shared pools started early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection

import pytest

import gearshift
from gearshift._backends._zygote import available as zygote_available
from gearshift._frames import FrameReader, PipeEnd


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_worker_starts_without_multiprocessing_connection_and_its_baggage() -> None:
    loaded = _modules_after("import gearshift._worker")
    assert sorted(loaded & {"multiprocessing.connection", "tempfile", "shutil", "socket", "selectors"}) == []


def test_a_process_run_does_not_load_the_standard_library_process_pool() -> None:
    loaded = _modules_after("import gearshift\nassert gearshift.map(abs, [-1, 2], mode='process') == [1, 2]")
    assert "concurrent.futures.process" not in loaded
    assert "multiprocessing.connection" not in loaded
    if hasattr(os, "memfd_create"):  # outcome logs in memory: no temporary files, no tempfile (2-6 ms)
        assert "tempfile" not in loaded


@pytest.mark.parametrize("size", [0, 1, 100, 16383, 16384, 70_000, 1 << 20])
def test_pipe_end_frames_read_back_by_both_readers(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    r, w = os.pipe()
    writer, reader = PipeEnd(w), PipeEnd(r)
    try:
        # The worker reads what the parent's PipeEnd writes (a thread: big frames fill the pipe).
        import threading

        sender = threading.Thread(target=writer.send_bytes, args=(data,))
        sender.start()
        assert reader.recv_bytes() == data
        sender.join()
    finally:
        writer.close()
        reader.close()


def test_pipe_end_speaks_the_format_of_multiprocessing_connection() -> None:
    # Frames written by Connection read back through PipeEnd and the reverse, as the parent's FrameReader reads them.
    r, w = os.pipe()
    theirs, mine = Connection(w, readable=False), PipeEnd(r)
    theirs.send_bytes(b"hello")
    assert mine.recv_bytes() == b"hello"
    theirs.close()
    mine.close()
    r, w = os.pipe()
    mine, reader = PipeEnd(w), FrameReader(r)
    mine.send_bytes(b"one")
    mine.send_bytes(b"two" * 10_000)
    mine.close()
    frames: list[bytes] = []
    with pytest.raises(EOFError):
        while True:
            frames.extend(reader.frames())
    assert frames == [b"one", b"two" * 10_000]
    reader.close()


def test_pipe_end_reports_the_writer_gone_and_its_own_close() -> None:
    r, w = os.pipe()
    reader = PipeEnd(r)
    os.write(w, (10).to_bytes(4, "big") + b"short")  # a frame cut short: the writer died mid-frame
    os.close(w)
    with pytest.raises(EOFError, match="closed the pipe"):
        reader.recv_bytes()
    reader.close()
    reader.close()  # a second close is harmless
    with pytest.raises(OSError, match="handle is closed"):
        reader.recv_bytes()


def test_a_shared_process_pool_starts_its_workers_when_it_is_created() -> None:
    from gearshift._pools import shared_backend

    workers = 3  # a size no other test shares
    backend = shared_backend("process", workers)
    assert backend is not None
    deadline = time.monotonic() + 60
    while not backend.ready() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert backend.ready()  # type: ignore[attr-defined]
    assert gearshift.map(abs, [-1, -2, 3], mode="process", workers=workers) == [1, 2, 3]


# -- the zygote ---------------------------------------------------------------------------

needs_zygote = pytest.mark.skipif(not zygote_available(), reason="workers are forked by a zygote on Linux only")


def _lineage(_: object) -> tuple[int, int, int]:
    return os.getpid(), os.getppid(), os.getpgid(0)


def _until(condition: object, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    return bool(condition())  # type: ignore[operator]


@needs_zygote
def test_workers_are_forked_by_one_clean_zygote_and_lead_their_own_groups() -> None:
    with gearshift.ProcessPoolExecutor(2) as ex:
        backend = ex._backend  # type: ignore[attr-defined]
        backend.warm()
        assert _until(backend.ready)
        seen = {ex.submit(_lineage, i).result() for i in range(20)}
        zygote = backend._zygote.proc.pid
    assert {ppid for _, ppid, _ in seen} == {zygote}
    assert zygote != os.getpid()
    assert all(pid == pgid for pid, _, pgid in seen)  # each its own process group
    assert _until(lambda: not psutil_exists(zygote))  # let go with the pool


def psutil_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie not yet reaped by its parent counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_without_the_zygote_workers_are_fresh_interpreters_of_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEARSHIFT_ZYGOTE", "0")
    with gearshift.ProcessPoolExecutor(2) as ex:
        seen = {ex.submit(_lineage, i).result() for i in range(4)}
    assert {ppid for _, ppid, _ in seen} == {os.getpid()}
    assert all(pid == pgid for pid, _, pgid in seen)


@needs_zygote
def test_a_worker_killed_is_reported_with_its_signal_through_the_zygote() -> None:
    import signal

    from gearshift import WorkerCrashed

    with gearshift.ProcessPoolExecutor(1) as ex:
        pid = ex.submit(os.getpid).result()
        with pytest.raises(WorkerCrashed, match="was killed by signal SIGKILL"):
            ex.submit(os.kill, pid, signal.SIGKILL).result()
        assert ex.submit(abs, -3).result() == 3  # a new worker, forked by the same zygote
        assert ex.submit(os.getpid).result() != pid


@needs_zygote
def test_a_dead_zygote_is_replaced_when_workers_are_needed_again() -> None:
    import signal

    with gearshift.ProcessPoolExecutor(2) as ex:
        backend = ex._backend  # type: ignore[attr-defined]
        backend.warm()
        assert _until(backend.ready)
        first = backend._zygote.proc.pid
        os.kill(first, signal.SIGKILL)  # its workers die with it (PR_SET_PDEATHSIG)
        # The pool saw them all go (a job sent to one it had not seen die would fail with it).
        assert _until(lambda: not backend._procs)
        assert [ex.submit(abs, -i).result() for i in range(4)] == [0, 1, 2, 3]
        assert backend._zygote.proc.pid != first


@needs_zygote
def test_a_pool_shuts_down_at_once_while_a_forked_child_holds_the_zygote_socket() -> None:
    # A child forked by the caller inherits the socket: the zygote must still be told to go.
    ex = gearshift.ProcessPoolExecutor(1)
    assert ex.submit(abs, -1).result() == 1
    zygote = ex._backend._zygote.proc  # type: ignore[attr-defined]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # holds every inherited descriptor until the parent says
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    try:
        os.close(read_end)
        started = time.monotonic()
        ex.shutdown(wait=True)
        assert zygote.poll() == 0  # told to go, it ran its exit handlers and left (os._exit)
        assert time.monotonic() - started < 4.0  # not the 5 s close() allows before killing it
    finally:
        os.close(write_end)
        os.waitpid(child, 0)


@needs_zygote
def test_a_forked_worker_gets_the_environment_of_the_moment_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a fresh interpreter would: the zygote's own environment is the one of the pool's first worker.
    monkeypatch.setenv("GEARSHIFT_TEST_MARK", "first")
    monkeypatch.setenv("GEARSHIFT_GONE", "here")
    with gearshift.ProcessPoolExecutor(1, max_tasks_per_child=1) as ex:
        assert ex.submit(os.environ.get, "GEARSHIFT_TEST_MARK").result() == "first"
        monkeypatch.setenv("GEARSHIFT_TEST_MARK", "second")
        monkeypatch.delenv("GEARSHIFT_GONE")
        assert ex.submit(os.environ.get, "GEARSHIFT_TEST_MARK").result() == "second"  # a new worker
        assert ex.submit(os.environ.get, "GEARSHIFT_GONE", "absent").result() == "absent"
        assert ex._backend._zygote is not None  # type: ignore[attr-defined]


@needs_zygote
def test_a_worker_of_a_zygote_let_go_is_reported_gone_not_an_error() -> None:
    # At the interpreter's exit the zygote is let go (its socket closed) while a pool's manager may
    # still be reaping its workers (a Ctrl-C as auto's first pool started): they died with it.
    import signal

    from gearshift._backends._zygote import ForkedWorker, Zygote

    zygote = Zygote(os.path.dirname(os.path.dirname(gearshift.__file__)), None)
    worker = ForkedWorker(zygote, 2**22 + 1)  # (no such worker: none is forked)
    zygote.close()
    assert worker.wait_exit(1.0)
    assert worker.poll() == -signal.SIGKILL
