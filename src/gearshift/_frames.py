"""Frames on the pipes between the parent and a worker; the parent's reader takes everything readable in one go.

Workers write with ``multiprocessing.connection.Connection.send_bytes`` (a 4-byte
big-endian length, or -1 and an 8-byte length for huge frames, then the bytes).
Reading that pipe with ``Connection.recv_bytes`` costs two system calls per frame
and a ``poll`` (a new selector each time) to learn whether another one waits; a
timed chunk streams one frame per item, so that cost was paid per item.  Here one
non-blocking ``read`` takes whatever the pipe holds and every complete frame in it
is returned at once.

:class:`PipeEnd` writes (and reads, blocking) that same format without
``multiprocessing.connection``: a worker that imports it starts faster (that
module brings ``tempfile``, ``shutil``, ``socket`` and the rest of
``multiprocessing``), and so does the parent's first process-mode call.
"""

from __future__ import annotations

import os

_READ = 1 << 16
#: frames shorter than this go out in one write with their header (as Connection does)
_JOIN_BELOW = 16384
_HUGE = 0x7FFFFFFF


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


class PipeEnd:
    """A blocking pipe end that sends and receives whole frames (it owns the descriptor)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def send_bytes(self, data: bytes) -> None:
        fd = self._open()
        size = len(data)
        header = size.to_bytes(4, "big") if size <= _HUGE else b"\xff\xff\xff\xff" + size.to_bytes(8, "big")
        if size < _JOIN_BELOW:
            _write_all(fd, header + data)
        else:
            _write_all(fd, header)
            _write_all(fd, data)

    def recv_bytes(self) -> bytes:
        """The next frame; :class:`EOFError` when the writer is gone."""
        fd = self._open()
        size = int.from_bytes(_read_exact(fd, 4), "big", signed=True)
        if size == -1:
            size = int.from_bytes(_read_exact(fd, 8), "big")
        return _read_exact(fd, size)

    def close(self) -> None:
        """Close the descriptor (once: a second call must not close a number reused meanwhile)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _open(self) -> int:
        if self._fd < 0:
            raise OSError("handle is closed")
        return self._fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes:
    first = os.read(fd, size)
    if len(first) == size:
        return first
    if not first and size:
        raise EOFError("the other end closed the pipe")
    buf = bytearray(first)
    while len(buf) < size:
        data = os.read(fd, min(size - len(buf), 1 << 20))
        if not data:
            raise EOFError("the other end closed the pipe")
        buf += data
    return bytes(buf)
