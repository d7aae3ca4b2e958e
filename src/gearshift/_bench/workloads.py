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

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from .jobs import (  # noqa: F401 - registered below; importable here as before
    _BIG,
    _LETTERS,
    _SLICE,
    _SUFFIX_LENGTH,
    _TARGETS,
    _WORD_LENGTH,
    CPU_LOOP_N,
    SLEEP_SECONDS,
    TARGET_INDICES,
    _buffers,
    _check_buffers,
    _check_compress_slice,
    _check_cpu,
    _check_prefixes,
    _check_sleeps,
    _check_square,
    _check_words,
    _compressible,
    _cpu_expected,
    _cpu_items,
    _ints,
    _offsets,
    _prefixes,
    _shared_buffer,
    _sleeps,
    _words,
    compress_slice,
    cpu_loop,
    digest_buffer,
    md5_crack_prefix,
    md5_matches,
    sleep_for,
    square_plus_one,
    word_at,
)
from .jobs_files import parse_file
from .jobs_net import ahttp_get, fetch_and_parse, http_get, record_value
from .workload import Kind, Server, Workload  # noqa: F401 - importable here as before

# (the jobs of .jobs, .jobs_net and .jobs_files are importable from here as before)
__all__ = [
    "CPU_LOOP_N",
    "SLEEP_SECONDS",
    "TARGET_INDICES",
    "WORKLOADS",
    "Workload",
    "ahttp_get",
    "compress_slice",
    "cpu_loop",
    "digest_buffer",
    "fetch_and_parse",
    "get",
    "http_get",
    "md5_crack_prefix",
    "md5_matches",
    "parse_file",
    "record_value",
    "sleep_for",
    "square_plus_one",
    "word_at",
]

# -- HTTP ---------------------------------------------------------------------------

HTTP_DELAY = 0.1
ASYNC_DELAY = 0.5
MANY_DELAY = 1.0
FETCH_DELAY = 0.05
FETCH_RECORDS = 2000


def _urls(delay: float, records: int = 0) -> Callable[..., list[str]]:
    def make(scale: int, url: str | None = None) -> list[str]:
        assert url is not None
        return [f"{url}/item/{i}?delay={delay}&records={records}" for i in range(scale)]

    make.__qualname__ = make.__name__ = f"urls_delay_{delay}_records_{records}"
    return make


def _fetch_expected(item_id: int, records: int) -> int:
    values = sorted(record_value(item_id, j) for j in range(records))
    return sum(values[::2]) - sum(values[1::2]) + sum(range(records))


def _check_ids(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert list(results) == list(range(len(items))), "wrong item ids from the server"


def _check_fetch(items: Sequence[Any], results: Sequence[Any]) -> None:
    assert list(results) == [_fetch_expected(i, FETCH_RECORDS) for i in range(len(items))]


# -- small files --------------------------------------------------------------------

FILE_RECORDS = 200


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


# The workloads of .workloads_more join the same dict (imported last: it uses the jobs above).
from .workloads_more import MORE  # noqa: E402

WORKLOADS.update((wl.name, wl) for wl in MORE)
