"""The parent's end of a worker's result pipe: everything readable in one go, split into frames.

Workers write with ``multiprocessing.connection.Connection.send_bytes`` (a 4-byte
big-endian length, or -1 and an 8-byte length for huge frames, then the bytes).
Reading that pipe with ``Connection.recv_bytes`` costs two system calls per frame
and a ``poll`` (a new selector each time) to learn whether another one waits; a
timed chunk streams one frame per item, so that cost was paid per item.  Here one
non-blocking ``read`` takes whatever the pipe holds and every complete frame in it
is returned at once.
"""

from __future__ import annotations

import os

_READ = 1 << 16


class FrameReader:
    """Non-blocking frame reader over a pipe's read end (it owns the descriptor)."""

    __slots__ = ("_buf", "_eof", "_fd")

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._buf = bytearray()
        self._eof = False

    def fileno(self) -> int:
        return self._fd

    def frames(self) -> list[bytes]:
        """Every complete frame that can be read now, without blocking (maybe none).

        Raises :class:`EOFError` once the writer is gone and no complete frame is left.
        """
        buf = self._buf
        while not self._eof:
            try:
                data = os.read(self._fd, _READ)
            except BlockingIOError:
                break
            if not data:
                self._eof = True
                break
            buf += data
            if len(data) < _READ:
                break  # the pipe is empty now: spare the read that would say so
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= 4:
            size = int.from_bytes(buf[pos : pos + 4], "big", signed=True)
            head = 4
            if size == -1:
                if end - pos < 12:
                    break
                size = int.from_bytes(buf[pos + 4 : pos + 12], "big")
                head = 12
            if end - pos < head + size:
                break
            out.append(bytes(buf[pos + head : pos + head + size]))
            pos += head + size
        if pos:
            del buf[:pos]
        if not out and self._eof:
            raise EOFError("the worker closed its end of the pipe")
        return out

    def close(self) -> None:
        """Close the descriptor (once: a second call must not close a number reused meanwhile)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
