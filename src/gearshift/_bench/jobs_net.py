"""The benchmark jobs that talk to the local servers (:mod:`.servers`): blocking and ``async def`` GETs.

Registered by :mod:`.workloads`; apart from it so that a worker process that
unpickles one imports only what it needs (see :mod:`.workload`).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

__all__ = ["ahttp_get", "fetch_and_parse", "http_get", "record_value"]


def record_value(item_id: int, j: int) -> int:
    """The value of record ``j`` of item ``item_id`` as the servers produce it."""
    return (item_id * 31 + j * 17) % 1000


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
