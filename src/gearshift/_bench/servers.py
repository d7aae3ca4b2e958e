"""Local HTTP servers for the I/O workloads, on 127.0.0.1 with an ephemeral port.

Each server runs in its own process, so its CPU use and its GIL never compete
with the client being measured, and it dies with its parent: it exits when its
stdin (a pipe from the parent) reaches end of file.

Both servers answer ``GET /item/<id>?delay=<seconds>&records=<n>`` after
``delay`` seconds (default: the server's ``delay``) with the JSON
``{"id": id, "records": [{"k": j, "v": record_value(id, j)}, ...]}``.

- :func:`http_server`: a threaded blocking server (one thread per connection).
- :func:`aio_server`: an aiohttp server able to hold 10,000 connections at once
  (it raises its open-file limit to the hard limit).

Run one by hand with ``python -m gearshift._bench.servers aio --delay 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .jobs_net import record_value

__all__ = ["aio_server", "http_server", "raise_fd_limit"]

_HOST = "127.0.0.1"
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 5.0
_BACKLOG = 16384  # the kernel caps it at net.core.somaxconn


def raise_fd_limit(wanted: int | None = None) -> int:
    """Raise this process's soft open-file limit towards the hard limit; return the new soft limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None else wanted
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def payload(item_id: int, records: int) -> bytes:
    """The body both servers send for one item."""
    return json.dumps(
        {"id": item_id, "records": [{"k": j, "v": record_value(item_id, j)} for j in range(records)]}
    ).encode()


def _parse(path: str, default_delay: float) -> tuple[int, float, int] | None:
    parts = urllib.parse.urlsplit(path)
    segments = parts.path.strip("/").split("/")
    if len(segments) != 2 or segments[0] != "item" or not segments[1].isdigit():
        return None
    query = urllib.parse.parse_qs(parts.query)
    delay = float(query.get("delay", [default_delay])[0])
    records = int(query.get("records", ["0"])[0])
    return int(segments[1]), delay, records


@contextlib.contextmanager
def http_server(delay: float = 0.1) -> Iterator[str]:
    """A threaded blocking HTTP server in a child process; yields its base URL."""
    with _serve("http", delay) as url:
        yield url


@contextlib.contextmanager
def aio_server(delay: float = 1.0) -> Iterator[str]:
    """An aiohttp server in a child process (needs ``pip install gearshift[bench]``); yields its base URL."""
    with _serve("aio", delay) as url:
        yield url


@contextlib.contextmanager
def _serve(kind: str, delay: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gearshift._bench.servers", kind, "--delay", repr(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], _START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise RuntimeError(
                f"the {kind} benchmark server did not start within {_START_TIMEOUT:g} s "
                f"(exit code {proc.poll()}); is aiohttp installed? pip install 'gearshift[bench]'"
            )
        yield f"http://{_HOST}:{int(line)}"
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()  # the server's signal to stop
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((_HOST, 0))
    sock.listen(_BACKLOG)
    return sock


def _announce(sock: socket.socket) -> None:
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()


def _on_stdin_eof(callback: object) -> None:
    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(65536):
                pass
        callback()  # type: ignore[operator]

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


# -- the servers themselves (run in the child process) -----------------------------


class _Handler(BaseHTTPRequestHandler):
    default_delay = 0.1

    def do_GET(self) -> None:
        import time

        parsed = _parse(self.path, self.default_delay)
        if parsed is None:
            self.send_error(404)
            return
        item_id, delay, records = parsed
        if delay > 0:
            time.sleep(delay)
        body = payload(item_id, records)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _run_http(delay: float) -> None:
    raise_fd_limit()
    sock = _listen()

    class Handler(_Handler):
        default_delay = delay

    server = ThreadingHTTPServer((_HOST, 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    _on_stdin_eof(server.shutdown)
    _announce(sock)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


def _run_aio(delay: float) -> None:
    import asyncio

    from aiohttp import web

    raise_fd_limit()

    async def item(request: web.Request) -> web.Response:
        parsed = _parse(str(request.rel_url), delay)
        if parsed is None:
            raise web.HTTPNotFound()
        item_id, wait, records = parsed
        if wait > 0:
            await asyncio.sleep(wait)
        return web.Response(body=payload(item_id, records), content_type="application/json")

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/item/{id}", item)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sock = _listen()
        site = web.SockSite(runner, sock, backlog=_BACKLOG)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        _on_stdin_eof(lambda: loop.call_soon_threadsafe(stop.set))
        _announce(sock)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gearshift._bench.servers", description=__doc__)
    parser.add_argument("kind", choices=["http", "aio"])
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each answer (default 0.1)")
    args = parser.parse_args(argv)
    if args.kind == "http":
        _run_http(args.delay)
    else:
        _run_aio(args.delay)


if __name__ == "__main__":
    main()


@contextlib.contextmanager
def workload_server(kind: str | None) -> Iterator[str | None]:
    """The local server a workload needs (``Workload.server``: "http", "aio" or None): its URL, or None."""
    if kind == "http":
        with http_server() as url:
            yield url
    elif kind == "aio":
        with aio_server() as url:
            yield url
    else:
        yield None
