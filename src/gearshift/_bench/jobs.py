"""The computing and sleeping benchmark jobs (split from :mod:`.workloads`, which registers them).

Module-level functions, so worker processes import them by reference; each
comes with its item maker and an independent check of its results.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
import string
import time
import zlib
from collections.abc import Sequence
from typing import Any

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


# -- NumPy linear algebra (numpy-eigvalsh, registered by .workloads_more) ----------------

#: the matrices' order: a 300 x 300 product and its eigenvalues, a few milliseconds with one BLAS thread
EIG_N = 300


def eigvalsh_product(seed: int) -> float:
    """The largest eigenvalue of ``A @ A.T`` for a seeded random 300 x 300 ``A`` (BLAS and LAPACK)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((EIG_N, EIG_N))
    return float(np.linalg.eigvalsh(a @ a.T)[-1])


# -- a CPU-bound coroutine (coro-cpu, registered by .workloads_more) ----------------------

#: loop iterations of about 20 ms (``cpu_loop`` runs about 10 ms for 150,000)
CORO_N = 300_000


async def coro_cpu(n: int) -> int:
    """Computes about 20 ms with one await of nothing: it blocks its event loop while it runs."""
    import asyncio  # (loaded already wherever a coroutine runs)

    await asyncio.sleep(0)
    return cpu_loop(n)
