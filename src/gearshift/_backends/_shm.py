"""Large buffers go to worker processes through shared memory instead of the pipe.

A chunk whose items hold big ``bytes``, ``bytearray``, ``memoryview`` or
NumPy-style buffers (at least :data:`THRESHOLD` bytes) is pickled with
protocol 5 and its large buffers taken out of band: each is written once to a
file in ``/dev/shm`` (POSIX shared memory on Linux), and only a small pickle
naming those files crosses the pipe.  The worker reads each buffer with one
copy, so an 8 MiB argument costs two memory copies instead of a trip through
a 64 KiB pipe buffer, and a job stays small enough to be queued on a busy
worker (prefetch) instead of waiting for it to go idle.

When the chunk's future resolves (done, failed or cancelled) its files go back
to a pool for the next chunks (up to :data:`POOL_BYTES`); at exit the parent
removes every file it made.  Files are used
directly rather than :class:`multiprocessing.shared_memory.SharedMemory`
because, before Python 3.13, attaching a segment in the worker registers it
with a resource tracker that unlinks it when the worker exits.

Imported in worker processes (to unpickle): keep it light.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pickle
import threading
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: buffers at least this large travel through shared memory (measured with
#: ``benchmarks/shm_threshold.py``: below it the pipe is as fast)
THRESHOLD = 64 << 10
#: chunks with more items than this are never scanned (big items come in small chunks)
_MAX_ITEMS = 64
_DIR = "/dev/shm"
_PREFIX = f"gearshift-{os.getpid()}-"
_counter = itertools.count()
_lock = threading.Lock()

available = os.path.isdir(_DIR) and os.access(_DIR, os.W_OK)


def _big(obj: Any) -> bool:
    kind = type(obj)
    if kind is bytes or kind is bytearray:
        return len(obj) >= THRESHOLD
    if kind is memoryview:
        return bool(obj.contiguous and obj.nbytes >= THRESHOLD)
    if kind is tuple:  # starmap arguments, one level deep
        return any(_big(x) for x in obj[:8])
    return getattr(obj, "nbytes", 0) >= THRESHOLD and hasattr(obj, "__array_interface__")


class _OutOfBand:
    """Stands for a big ``bytes``/``bytearray``/``memoryview`` while pickling: the
    C pickler saves these in band through fast paths that no hook can intercept."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __reduce_ex__(self, protocol: Any) -> tuple[Callable[..., Any], tuple[Any, str]]:
        return _as_type, (pickle.PickleBuffer(self.obj), type(self.obj).__name__)


def _wrap(obj: Any) -> Any:
    kind = type(obj)
    if (kind is bytes or kind is memoryview or kind is bytearray) and _big(obj):
        return _OutOfBand(obj)
    if kind is tuple:
        return tuple(_wrap(x) for x in obj)
    return obj


def _as_type(buffer: Any, kind: str) -> Any:
    if kind == "memoryview":
        return memoryview(buffer)
    if kind == "bytearray":
        return bytearray(buffer)
    return buffer if type(buffer) is bytes else bytes(buffer)


class _Packed:
    """What crosses the pipe: the in-band pickle and the files holding the big buffers."""

    __slots__ = ("blob", "segments")

    def __init__(self, blob: bytes, segments: list[tuple[str, int]]) -> None:
        self.blob, self.segments = blob, segments

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[bytes, list[tuple[str, int]]]]:
        return load_items, (self.blob, self.segments)


def load_items(blob: bytes, segments: list[tuple[str, int]]) -> Any:
    """In the worker: read each buffer back (one copy) and unpickle the items with them."""
    buffers = []
    for path, size in segments:
        fd = os.open(path, os.O_RDONLY)
        try:
            buffers.append(os.pread(fd, size, 0))
        finally:
            os.close(fd)
    return pickle.loads(blob, buffers=buffers)


def pack(items: Sequence[Any]) -> tuple[bytes, Callable[[Any], None]] | None:
    """Pickle ``items`` with their big buffers in shared memory, or None when that is not worth it.

    Returns the bytes to send and a callback that hands the files back to the
    pool (give it the chunk's future: ``future.add_done_callback(release)``).
    """
    if not available or len(items) > _MAX_ITEMS or not any(_big(x) for x in items):
        return None
    segments: list[tuple[str, int]] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < THRESHOLD:
            return True  # small: keep it in band
        segments.append((_write(raw), raw.nbytes))
        return False

    import io

    stream = io.BytesIO()
    try:
        pickle.Pickler(stream, protocol=5, buffer_callback=out_of_band).dump([_wrap(x) for x in items])
        blob = pickle.dumps(_Packed(stream.getvalue(), segments), protocol=5)
    except BaseException:
        _give_back(segments)
        raise
    return blob, lambda _future: _give_back(segments)


def pack_object(obj: Any) -> tuple[bytes, Callable[[], None]] | None:
    """Like :func:`pack` for one object pickled with cloudpickle (a function and its ``shared=`` object).

    Big buffers anywhere inside (NumPy arrays; ``bytes``, ``bytearray`` and
    ``memoryview`` as the bound arguments of a ``functools.partial``) go to
    shared memory.  None when there is none: send the plain pickle then.
    The callback hands the files back once no worker will need them again.
    """
    if not available:
        return None
    import functools
    import io

    import cloudpickle

    if isinstance(obj, functools.partial):
        wrapped = [_wrap(arg) for arg in obj.args]
        if any(type(arg) is _OutOfBand for arg in wrapped):
            obj = type(obj)(obj.func, *wrapped, **obj.keywords)
    segments: list[tuple[str, int]] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < THRESHOLD:
            return True
        segments.append((_write(raw), raw.nbytes))
        return False

    stream = io.BytesIO()
    try:
        cloudpickle.CloudPickler(stream, protocol=5, buffer_callback=out_of_band).dump(obj)
        if not segments:
            return None
        blob = pickle.dumps(_Packed(stream.getvalue(), segments), protocol=5)
    except BaseException:
        _give_back(segments)
        raise
    return blob, lambda: _give_back(segments)


# Files are kept and reused: writing into pages a file already has is a plain
# copy, while a new file pays for allocating and zeroing every page first.
_free: dict[int, list[str]] = {}  # capacity (a power of two) -> idle files
_pooled = 0
#: idle bytes kept for reuse, beyond which released files are removed
POOL_BYTES = 256 << 20


def _capacity(size: int) -> int:
    return 1 << max(0, size - 1).bit_length()


_swept = False


def _sweep_dead() -> None:
    """Remove files left by gearshift processes that died without running atexit (SIGKILL)."""
    for path in glob.glob(os.path.join(_DIR, "gearshift-*-*-*")):
        try:
            pid = int(os.path.basename(path).split("-")[1])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            _remove([path])
        except PermissionError:  # alive, someone else's
            continue


def _write(raw: memoryview) -> str:
    global _pooled, _swept
    if not _swept:
        _swept = True
        _sweep_dead()
    view = raw.cast("B")
    capacity = _capacity(view.nbytes)
    with _lock:
        idle = _free.get(capacity)
        path = idle.pop() if idle else None
        if path is not None:
            _pooled -= capacity
        else:
            path = os.path.join(_DIR, f"{_PREFIX}{next(_counter)}-{capacity}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        offset = 0
        while offset < view.nbytes:
            offset += os.pwrite(fd, view[offset:], offset)
    finally:
        os.close(fd)
    return path


def _give_back(segments: list[tuple[str, int]]) -> None:
    global _pooled
    for path, size in segments:
        capacity = _capacity(size)
        with _lock:
            if _pooled + capacity <= POOL_BYTES:
                _free.setdefault(capacity, []).append(path)
                _pooled += capacity
                continue
        _remove([path])


def _remove(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


@atexit.register
def _remove_leftovers() -> None:
    if os.getpid() == int(_PREFIX.split("-")[1]):
        _remove(glob.glob(os.path.join(_DIR, f"{_PREFIX}*")))
