"""The benchmark jobs that read small files: JSON with :mod:`json`, CSV with :mod:`csv`.

Registered by :mod:`.workloads` and :mod:`.workloads_more` (which make the
files); apart from them so that a worker process that unpickles one imports only
what it needs (see :mod:`.workload`).
"""

from __future__ import annotations

import csv
import json

__all__ = ["parse_csv", "parse_file"]


def parse_file(path: str) -> int:
    """Read and parse one small JSON file (about 8 KiB) and reduce it."""
    with open(path, "rb") as f:
        data = json.load(f)
    return int(sum(r["v"] for r in data["records"]) + data["id"])


def parse_csv(path: str) -> int:
    """Read one small CSV file with ``csv.DictReader`` and sum a column of ints."""
    with open(path, newline="") as f:
        return sum(int(row["amount"]) * int(row["quantity"]) for row in csv.DictReader(f))
