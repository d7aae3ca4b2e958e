"""Checkpoint stores for ``gearshift run --resume``; see ``_base.py`` for the contract.

``open_store`` picks the implementation from a URL: none or ``sqlite:///PATH``
is a local SQLite file; ``redis://HOST:PORT/DB[?key=NAME]`` is Redis (imported
only when asked for, so the dependency stays optional).
"""

from __future__ import annotations

from pathlib import Path

from ._base import Store as Store

__all__ = ["Store", "StoreURLError", "open_store"]


class StoreURLError(ValueError):
    """The ``--store`` URL names no store gearshift knows; the message lists the accepted forms."""


def open_store(url: str | None, *, default_path: Path) -> Store:
    """Open the store that ``url`` names, or the SQLite file at ``default_path`` when ``url`` is None.

    ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` follow
    the usual SQLite URL spelling (three slashes, then the path).
    """
    if url is None:
        from ._sqlite import SQLiteStore

        return SQLiteStore(default_path)
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "sqlite":
        from ._sqlite import SQLiteStore

        if not rest.startswith("/") or rest == "/":
            raise StoreURLError(f"store URL {url!r} has no path; write sqlite:///relative.db or sqlite:////abs/path.db")
        return SQLiteStore(Path(rest[1:]))
    if sep and scheme in ("redis", "rediss", "unix"):
        from ._redis import RedisStore

        # Without ?key=NAME in the URL, the run is named after its default
        # checkpoint file, so the same output name resumes from any machine.
        return RedisStore(url, default_key=default_path.stem)
    raise StoreURLError(
        f"unknown store URL {url!r}: use sqlite:///PATH (a local file) or redis://HOST:PORT/DB, "
        "or leave --store out for a SQLite file beside the output"
    )
