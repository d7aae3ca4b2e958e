"""A checkpoint store in Redis, so a run driven from one machine can be resumed from another.

URL: ``redis://[user:password@]host:port/db[?key=NAME]`` (``rediss://`` for
TLS, ``unix:///path/to/socket?db=N`` for a socket), as redis-py spells it.
One run lives under three keys sharing the hash tag ``{NAME}`` (so they sit on
one slot of a Redis Cluster and a transaction may touch all three)::

    gearshift:{NAME}:meta      string   the run's identity, JSON
    gearshift:{NAME}:records   hash     index -> the item's JSON record
    gearshift:{NAME}:index     zset     index (score = index), for pages in index order

A batch is one MULTI/EXEC transaction: all of it or none of it is applied,
even if this process dies half-way.  ``HSETNX`` and ``ZADD NX`` keep the first
record of an index, so a batch replayed after a crash does no harm.  How
durable an acknowledged batch is against the *server* dying is the server's
setting: use ``appendonly yes`` with ``appendfsync always`` to match the
SQLite store (the default, ``everysec``, may lose the last second).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any, cast

from .._errors import MissingDependencyError

#: indices fetched per round trip by iter_records: bounded memory for any run size
_PAGE = 2048
_DEFAULT_KEY = "gearshift"


class RedisStore:
    """A :class:`~gearshift._store._base.Store` held by a Redis server."""

    def __init__(self, url: str, *, default_key: str | None = None) -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError(
                "a redis:// checkpoint store needs the 'redis' package, which is not installed. "
                "Install it with: pip install gearshift[redis]"
            ) from exc
        self.url, self.key = _split_key(url, default_key or _DEFAULT_KEY)
        tag = "gearshift:{" + self.key + "}:"
        self._meta, self._records, self._index = tag + "meta", tag + "records", tag + "index"
        self._db = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            self._db.ping()
        except redis.RedisError as exc:
            self._db.close()
            raise ConnectionError(
                f"cannot reach the Redis server of the checkpoint store {_redact(self.url)}: {exc}. "
                "Check that redis-server runs there and the host, port and password are right."
            ) from exc

    def get_meta(self) -> dict[str, Any] | None:
        body = self._db.get(self._meta)
        return None if body is None else dict(json.loads(body))

    def set_meta(self, meta: dict[str, Any]) -> None:
        self._db.set(self._meta, json.dumps(meta, sort_keys=True))

    def done_indices(self) -> set[int]:
        return {int(i) for i in self._db.hkeys(self._records)}

    def put_many(self, records: Sequence[tuple[int, str]]) -> None:
        if not records:
            return
        with self._db.pipeline(transaction=True) as tx:  # MULTI ... EXEC: all or nothing
            for index, text in records:
                if not isinstance(text, str):
                    raise TypeError(f"record {index} must be a str of JSON, got {type(text).__name__}")
                tx.hsetnx(self._records, str(index), text)
                tx.zadd(self._index, {str(index): index}, nx=True)
            tx.execute()

    def iter_records(self) -> Iterator[tuple[int, str]]:
        low: str = "-inf"
        while True:
            # decode_responses=True: members and values come back as str
            page = cast("list[str]", self._db.zrangebyscore(self._index, low, "+inf", start=0, num=_PAGE))
            if not page:
                return
            texts = cast("list[str | None]", self._db.hmget(self._records, page))
            for index, text in zip(page, texts):
                if text is not None:
                    yield int(index), text
            low = f"({page[-1]}"  # exclusive: strictly after the last index of this page

    def delete(self) -> None:
        """Remove this run's keys (the store is then empty)."""
        self._db.delete(self._meta, self._records, self._index)

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"RedisStore({_redact(self.url)!r}, key={self.key!r})"


def _split_key(url: str, default: str) -> tuple[str, str]:
    """Take ``key=`` out of the URL's query (redis-py would refuse it); the rest is for redis-py."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    keys = [v for k, v in query if k == "key"]
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "key"])
    key = keys[-1] if keys else default
    if not key or "{" in key or "}" in key:
        raise ValueError(f"the store key must be a non-empty name without braces, got {key!r} in {_redact(url)}")
    return urllib.parse.urlunsplit(parts._replace(query=rest)), key


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
