"""The default checkpoint store: one SQLite file beside the output, no server needed.

The database runs in WAL mode with ``synchronous=FULL``: each committed batch
survives the process being killed and the machine losing power, and a batch
cut short by a crash is rolled back as a whole.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: rows fetched per query by iter_records: bounded memory for any run size
_PAGE = 2048
#: rows inserted per statement by put_many (two parameters each: under SQLite's oldest limit of 999)
_ROWS = 400


def _insert(rows: int) -> str:
    return "INSERT OR IGNORE INTO results (idx, record) VALUES " + ", ".join(["(?, ?)"] * rows)


class SQLiteStore:
    """A :class:`~gearshift._store._base.Store` in one SQLite database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # isolation_level=None: we open transactions ourselves, so a batch is one transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 0), body TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS results (idx INTEGER PRIMARY KEY, record TEXT NOT NULL)")
        self._insert_full = _insert(_ROWS)

    def get_meta(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT body FROM meta WHERE id = 0").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def set_meta(self, meta: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (id, body) VALUES (0, ?)", (json.dumps(meta, sort_keys=True),))

    def done_indices(self) -> set[int]:
        return {idx for (idx,) in self._db.execute("SELECT idx FROM results")}

    def put_many(self, records: Sequence[tuple[int, str]]) -> None:
        if not records:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # Many rows per statement: sqlite3 lets go of the GIL at every statement step, and
            # getting it back from a busy process (hundreds of worker threads) can take
            # milliseconds each time, which one row per step would multiply by the batch's size.
            for k in range(0, len(records), _ROWS):
                rows = records[k : k + _ROWS]
                if len(rows) == _ROWS:
                    self._db.execute(self._insert_full, [v for row in rows for v in row])
                else:
                    self._db.execute(_insert(len(rows)), [v for row in rows for v in row])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def iter_records(self) -> Iterator[tuple[int, str]]:
        last = -1
        while True:
            page = self._db.execute(
                "SELECT idx, record FROM results WHERE idx > ? ORDER BY idx LIMIT ?", (last, _PAGE)
            ).fetchall()
            if not page:
                return
            yield from page
            last = page[-1][0]

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
