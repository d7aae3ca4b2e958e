"""The benchmark workloads, defined once for every benchmark and for ``gearshift bench``.

Each :class:`Workload` pairs a module-level function (so worker processes can
import it by reference instead of unpickling a closure) with a deterministic
way to build its items at a given ``scale`` (the number of items) and a
``check`` that verifies the results independently of the function.

Workloads that talk to a server (``server="http"`` or ``"aio"``) take the
server's base URL in ``make_items(scale, url)``; start one with
:func:`gearshift._bench.servers.http_server` / :func:`~gearshift._bench.servers.aio_server`.
Every item's URL carries its own ``delay`` query parameter, so one server
serves every latency.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.client
import inspect
import itertools
import json
import os
import random
import string
import tempfile
import time
import urllib.parse
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal

__all__ = ["WORKLOADS", "Workload", "get"]

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


# -- tiny: trivial arithmetic ---------------------------------------------------


def square_plus_one(x: int) -> int:
    """About 0.05 µs of work: the cost of the machinery is all there is to see."""
    return x * x + 1


def _ints(scale: int, url: str | None = None) -> list[int]:
    return list(range(scale))


def _check_square(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert len(results) == len(items)
    assert all(r == x * x + 1 for x, r in zip(items, results)), "wrong square_plus_one result"


# -- md5: the password-cracking example ----------------------------------------

_LETTERS = string.ascii_lowercase
_WORD_LENGTH = 5
_SUFFIX_LENGTH = 3
#: indices (in the enumeration of 5-letter lowercase words) whose md5 is "the password"
TARGET_INDICES = (7, 777, 77_777, 1_777_777)


def word_at(index: int) -> str:
    """The ``index``-th 5-letter lowercase word, in ``itertools.product`` order."""
    letters = []
    for _ in range(_WORD_LENGTH):
        index, digit = divmod(index, len(_LETTERS))
        letters.append(_LETTERS[digit])
    return "".join(reversed(letters))


_TARGETS = frozenset(hashlib.md5(word_at(i).encode()).digest() for i in TARGET_INDICES)


def md5_matches(word: str) -> bool:
    """Fine grain: is this one candidate's md5 a target?  About 0.4 µs."""
    return hashlib.md5(word.encode()).digest() in _TARGETS


def md5_crack_prefix(prefix: str) -> list[str]:
    """Coarse grain: every 5-letter word starting with the 2-letter ``prefix`` (17,576 candidates)."""
    targets, md5 = _TARGETS, hashlib.md5
    found = []
    for rest in itertools.product(_LETTERS, repeat=_SUFFIX_LENGTH):
        word = prefix + "".join(rest)
        if md5(word.encode()).digest() in targets:
            found.append(word)
    return found


def _words(scale: int, url: str | None = None) -> list[str]:
    return ["".join(p) for p in itertools.islice(itertools.product(_LETTERS, repeat=_WORD_LENGTH), scale)]


def _check_words(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert len(results) == len(items)
    hits = [i for i, r in enumerate(results) if r]
    assert hits == [i for i in TARGET_INDICES if i < len(items)], f"wrong md5 matches at {hits[:10]}"


def _prefixes(scale: int, url: str | None = None) -> list[str]:
    return ["".join(p) for p in itertools.islice(itertools.product(_LETTERS, repeat=2), scale)]


def _check_prefixes(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert len(results) == len(items)
    found = [w for ws in results for w in ws]
    per_prefix = len(_LETTERS) ** _SUFFIX_LENGTH
    expected = [word_at(i) for i in TARGET_INDICES if i < len(items) * per_prefix]
    assert found == expected, f"found {found}, expected {expected}"


# -- pure-Python CPU, the GIL held ------------------------------------------------

#: loop length for about 10 ms per item on a 2020s x86 core under CPython 3.11
CPU_LOOP_N = 150_000


def cpu_loop(n: int) -> int:
    """Pure-Python arithmetic in a loop: holds the GIL the whole time."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def _cpu_items(scale: int, url: str | None = None) -> list[int]:
    return [CPU_LOOP_N + i % 5 for i in range(scale)]


def _cpu_expected(n: int) -> int:
    # i*i % 7 over one period of 7: 0,1,4,2,2,4,1 (sum 14)
    full, rest = divmod(n, 7)
    return full * 14 + sum(i * i % 7 for i in range(rest))


def _check_cpu(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert list(results) == [_cpu_expected(n) for n in items], "wrong cpu_loop result"


# -- GIL-releasing CPU: zlib and hashlib on MB buffers ----------------------------

_SLICE = 512 * 1024
_BIG = 8 * 1024 * 1024


def _compressible(rng: random.Random, size: int) -> bytes:
    # 16 distinct byte values: about 50 % compressible, so zlib does real work.
    table = bytes(range(97, 113)) * 16
    return rng.randbytes(size).translate(table)


@functools.cache
def _shared_buffer() -> bytes:
    """A 1 MiB buffer built once per process (in each worker, not sent to it)."""
    return _compressible(random.Random(42), 2 * _SLICE)


def compress_slice(offset: int) -> tuple[int, str]:
    """Small argument, big work: zlib and sha256 on a 512 KiB slice, GIL released."""
    start = offset % _SLICE
    view = memoryview(_shared_buffer())[start : start + _SLICE]
    return len(zlib.compress(view, 6)), hashlib.sha256(view).hexdigest()[:16]


def _offsets(scale: int, url: str | None = None) -> list[int]:
    return [i * 4099 for i in range(scale)]


def _check_compress_slice(items: Sequence[Any], results: Sequence[Any]) -> None:
    buf = _shared_buffer()
    expected = []
    for offset in items:
        data = buf[offset % _SLICE : offset % _SLICE + _SLICE]
        expected.append((len(zlib.compress(data, 6)), hashlib.sha256(data).hexdigest()[:16]))
    assert [tuple(r) for r in results] == expected, "wrong compress_slice result"


def digest_buffer(data: bytes) -> tuple[int, str]:
    """Big argument: sha256 and crc32 of a multi-MB buffer (the GIL released); the cost is moving it."""
    return zlib.crc32(data), hashlib.sha256(data).hexdigest()[:16]


def _buffers(scale: int, url: str | None = None) -> list[bytes]:
    return [_compressible(random.Random(i), _BIG) for i in range(scale)]


def _check_buffers(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert all(len(data) == _BIG for data in items)
    expected = [(zlib.crc32(data), hashlib.sha256(data).hexdigest()[:16]) for data in items]
    assert [tuple(r) for r in results] == expected, "wrong digest_buffer result"


# -- blocking waits --------------------------------------------------------------

SLEEP_SECONDS = 0.05


def sleep_for(seconds: float) -> float:
    """A blocking wait that uses no CPU: stands for a slow disk or a remote call."""
    time.sleep(seconds)
    return seconds


def _sleeps(scale: int, url: str | None = None) -> list[float]:
    return [SLEEP_SECONDS] * scale


def _check_sleeps(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert list(results) == list(items)


# -- HTTP ---------------------------------------------------------------------------

HTTP_DELAY = 0.1
ASYNC_DELAY = 0.5
MANY_DELAY = 1.0
FETCH_DELAY = 0.05
FETCH_RECORDS = 2000


def record_value(item_id: int, j: int) -> int:
    """The value of record ``j`` of item ``item_id`` as the servers produce it."""
    return (item_id * 31 + j * 17) % 1000


def _urls(delay: float, records: int = 0) -> Callable[..., list[str]]:
    def make(scale: int, url: str | None = None) -> list[str]:
        assert url is not None
        return [f"{url}/item/{i}?delay={delay}&records={records}" for i in range(scale)]

    make.__qualname__ = make.__name__ = f"urls_delay_{delay}_records_{records}"
    return make


def _split(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port, f"{parts.path}?{parts.query}"


def http_get(url: str) -> int:
    """Blocking GET of one item from the local server: returns the item's id."""
    host, port, target = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return int(json.loads(body)["id"])


def fetch_and_parse(url: str) -> int:
    """Fetch one item (blocking), then parse and reduce it: I/O then CPU."""
    host, port, target = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", target)
        body = conn.getresponse().read()
    finally:
        conn.close()
    data = json.loads(body)
    values = sorted(r["v"] for r in data["records"])
    return int(sum(values[::2]) - sum(values[1::2]) + sum(r["k"] for r in data["records"]))


def _fetch_expected(item_id: int, records: int) -> int:
    values = sorted(record_value(item_id, j) for j in range(records))
    return sum(values[::2]) - sum(values[1::2]) + sum(range(records))


async def ahttp_get(url: str) -> int:
    """``async def`` GET over asyncio streams (HTTP/1.0, one connection per request)."""
    import asyncio

    host, port, target = _split(url)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {target} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"unexpected answer from {url}: {head[:80]!r}")
    return int(json.loads(body)["id"])


def _check_ids(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert list(results) == list(range(len(items))), "wrong item ids from the server"


def _check_fetch(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert list(results) == [_fetch_expected(i, FETCH_RECORDS) for i in range(len(items))]


# -- small files --------------------------------------------------------------------

FILE_RECORDS = 200


def parse_file(path: str) -> int:
    """Read and parse one small JSON file (about 8 KiB) and reduce it."""
    with open(path, "rb") as f:
        data = json.load(f)
    return int(sum(r["v"] for r in data["records"]) + data["id"])


def _file_payload(i: int) -> bytes:
    records = [{"k": j, "v": record_value(i, j), "tag": f"r{j}"} for j in range(FILE_RECORDS)]
    return json.dumps({"id": i, "records": records}).encode()


def _files(scale: int, url: str | None = None) -> list[str]:
    # A stable directory: built once, reused by later runs (and by worker processes).
    root = os.path.join(tempfile.gettempdir(), f"gearshift-bench-files-{FILE_RECORDS}")
    os.makedirs(root, exist_ok=True)
    paths = []
    for i in range(scale):
        path = os.path.join(root, f"item-{i}.json")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(_file_payload(i))
            os.replace(tmp, path)
        paths.append(path)
    return paths


def _check_files(items: Sequence[Any], results: Sequence[Any]) -> None:
    expected = [sum(record_value(i, j) for j in range(FILE_RECORDS)) + i for i in range(len(items))]
    assert list(results) == expected, "wrong parse_file result"


# -- the registry ---------------------------------------------------------------------

_ALL = (
    Workload(
        "tiny", "tiny", square_plus_one, _ints, "trivial arithmetic (x*x+1), about 0.05 µs per item",
        scale=1_000_000, quick_scale=100_000, check=_check_square,
    ),
    Workload(
        "md5-fine", "tiny", md5_matches, _words,
        "md5 of one short candidate word per item (password cracking, fine grain), about 0.4 µs",
        scale=2_000_000, quick_scale=200_000, check=_check_words,
    ),
    Workload(
        "md5-coarse", "cpu", md5_crack_prefix, _prefixes,
        "md5 of 17,576 candidate words per item (password cracking, coarse grain), about 10 ms",
        scale=114, quick_scale=24, check=_check_prefixes,
    ),
    Workload(
        "cpu-loop", "cpu", cpu_loop, _cpu_items, "pure-Python loop holding the GIL, about 10 ms per item",
        scale=200, quick_scale=40, check=_check_cpu,
    ),
    Workload(
        "zlib-small-args", "cpu-nogil", compress_slice, _offsets,
        "zlib + sha256 of a 512 KiB slice of a per-process buffer: GIL released, argument an int",
        scale=200, quick_scale=40, check=_check_compress_slice,
    ),
    Workload(
        "hash-big-args", "cpu-nogil", digest_buffer, _buffers,
        "crc32 + sha256 of an 8 MiB bytes argument per item: GIL released, moving the argument costs",
        scale=48, quick_scale=12, check=_check_buffers,
    ),
    Workload(
        "sleep", "io", sleep_for, _sleeps, f"blocking time.sleep({SLEEP_SECONDS}) per item, no CPU",
        scale=400, quick_scale=100, check=_check_sleeps,
    ),
    Workload(
        "http-blocking", "io", http_get, _urls(HTTP_DELAY),
        f"blocking HTTP GET to a local server answering after {HTTP_DELAY * 1000:g} ms",
        scale=400, quick_scale=100, check=_check_ids, server="http",
    ),
    Workload(
        "http-async", "async-io", ahttp_get, _urls(ASYNC_DELAY),
        f"async def HTTP GET to a local aiohttp server answering after {ASYNC_DELAY * 1000:g} ms",
        scale=3000, quick_scale=500, check=_check_ids, server="aio",
    ),
    Workload(
        "http-async-10k", "async-io", ahttp_get, _urls(MANY_DELAY),
        f"10,000 concurrent async def GETs to a local aiohttp server answering after {MANY_DELAY:g} s",
        scale=10_000, quick_scale=2000, check=_check_ids, server="aio",
    ),
    Workload(
        "parse-files", "mixed", parse_file, _files,
        f"read and parse one small JSON file ({FILE_RECORDS} records, about 8 KiB) per item",
        scale=4000, quick_scale=500, check=_check_files,
    ),
    Workload(
        "fetch-parse", "mixed", fetch_and_parse, _urls(FETCH_DELAY, FETCH_RECORDS),
        f"blocking GET ({FETCH_DELAY * 1000:g} ms latency, {FETCH_RECORDS} JSON records) then parse and reduce",
        scale=300, quick_scale=60, check=_check_fetch, server="http",
    ),
)  # fmt: skip

#: every workload by name, in a stable order
WORKLOADS: dict[str, Workload] = {w.name: w for w in _ALL}


def get(name: str) -> Workload:
    """The workload called ``name``, with the list of names when there is none."""
    try:
        return WORKLOADS[name]
    except KeyError:
        raise KeyError(f"no workload named {name!r}; choose one of: {', '.join(WORKLOADS)}") from None
