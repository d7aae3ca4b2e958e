"""Three workloads that ``mode="auto"`` misread (issue 21), defined beside the others.

* ``numpy-eigvalsh``: NumPy linear algebra that brings its own threads (an
  OpenBLAS or MKL pool per process), so workers must share the CPUs with it.
* ``csv-files``: small CSV files parsed with the csv module and ``int()``:
  Python code holding the GIL between short reads, once read as "GIL free"
  and sent to threads that were no faster than one loop.
* ``coro-cpu``: an ``async def`` that computes about 20 ms without awaiting
  anything slow, so it blocks its event loop the whole time.

They join :data:`gearshift._bench.WORKLOADS` (``numpy-eigvalsh`` only when
NumPy is installed: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from .jobs import CORO_N, EIG_N, coro_cpu, cpu_loop, eigvalsh_product
from .jobs_files import parse_csv
from .workload import Workload

__all__ = ["MORE", "coro_cpu", "eigvalsh_product", "parse_csv"]

# -- NumPy linear algebra --------------------------------------------------------


def _seeds(scale: int, url: str | None = None) -> list[int]:
    return list(range(scale))


def _check_eig(items: Sequence[Any], results: Sequence[Any]) -> None:
    # A @ A.T of a standard normal A has its largest eigenvalue near (2 sqrt(n))^2 = 4n (Marchenko-Pastur).
    assert len(results) == len(items)
    for value in results:
        assert isinstance(value, float), f"not a float: {value!r}"
        assert 3.0 * EIG_N < value < 5.0 * EIG_N, f"unlikely top eigenvalue {value}"
    if items:  # (BLAS sums in an order that depends on its threads: equal to rounding, not to the bit)
        expected = eigvalsh_product(items[0])
        assert abs(results[0] - expected) <= 1e-9 * abs(expected), "not a function of the seed"


# -- small CSV files ----------------------------------------------------------------

#: rows per file (about 6 KiB)
CSV_ROWS = 200


def _csv_value(i: int, j: int) -> tuple[int, int]:
    return (i * 31 + j * 17) % 1000, j % 7 + 1


def _csv_files(scale: int, url: str | None = None) -> list[str]:
    # A stable directory: built once, reused by later runs (and by worker processes).
    root = os.path.join(tempfile.gettempdir(), f"gearshift-bench-csv-{CSV_ROWS}")
    os.makedirs(root, exist_ok=True)
    paths = []
    for i in range(scale):
        path = os.path.join(root, f"item-{i}.csv")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["id", "name", "amount", "quantity"])
                for j in range(CSV_ROWS):
                    amount, quantity = _csv_value(i, j)
                    writer.writerow([j, f"item {i}-{j}", amount, quantity])
            os.replace(tmp, path)
        paths.append(path)
    return paths


def _check_csv(items: Sequence[Any], results: Sequence[Any]) -> None:
    expected = [sum(a * q for a, q in (_csv_value(i, j) for j in range(CSV_ROWS))) for i in range(len(items))]
    assert list(results) == expected, "wrong parse_csv result"


# -- a CPU-bound coroutine ---------------------------------------------------------------


def _coro_items(scale: int, url: str | None = None) -> list[int]:
    return [CORO_N + i % 3 for i in range(scale)]


def _check_coro(items: Sequence[Any], results: Sequence[Any]) -> None:
    by_n = {n: cpu_loop(n) for n in set(items)}  # a few distinct sizes
    assert list(results) == [by_n[n] for n in items], "wrong coro_cpu result"


MORE: tuple[Workload, ...] = (
    *(
        (
            Workload(
                "numpy-eigvalsh", "cpu-nogil", eigvalsh_product, _seeds,
                f"NumPy: eigvalsh of a {EIG_N}x{EIG_N} product A @ A.T per item (BLAS threads of its own)",
                scale=64, quick_scale=24, check=_check_eig,
            ),
        )
        if importlib.util.find_spec("numpy") is not None
        else ()
    ),
    Workload(
        "csv-files", "mixed", parse_csv, _csv_files,
        f"read one small CSV file ({CSV_ROWS} rows, about 6 KiB) with csv.DictReader and sum int() columns",
        scale=2000, quick_scale=400, check=_check_csv,
    ),
    Workload(
        "coro-cpu", "cpu", coro_cpu, _coro_items,
        "async def computing about 20 ms per item (pure Python, blocks its event loop)",
        scale=100, quick_scale=30, check=_check_coro,
    ),
)  # fmt: skip
