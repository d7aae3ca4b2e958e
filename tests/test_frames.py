"""FrameReader: the parent's side of a worker's result pipe, read in bulk and split into frames."""

from __future__ import annotations

import os
import threading
from multiprocessing.connection import Connection

import pytest

from gearshift._frames import FrameReader


def _pair() -> tuple[FrameReader, Connection]:
    r, w = os.pipe()
    return FrameReader(r), Connection(w, readable=False)


def test_every_waiting_frame_comes_back_at_once_in_order() -> None:
    reader, writer = _pair()
    sent = [f"frame {i}".encode() * (i % 5) for i in range(200)]
    for frame in sent:
        writer.send_bytes(frame)
    assert reader.frames() == sent
    assert reader.frames() == []  # nothing waiting: no blocking, no error
    writer.close()
    with pytest.raises(EOFError):
        reader.frames()
    reader.close()


def test_a_frame_bigger_than_the_pipe_is_assembled_across_reads() -> None:
    reader, writer = _pair()
    big = os.urandom(3 << 20)
    thread = threading.Thread(target=lambda: (writer.send_bytes(big), writer.send_bytes(b"after"), writer.close()))
    thread.start()
    got: list[bytes] = []
    try:
        while True:
            got.extend(reader.frames())
    except EOFError:
        pass
    thread.join()
    reader.close()
    assert got == [big, b"after"]


def test_a_frame_cut_short_by_the_writer_dying_is_dropped_at_eof() -> None:
    r, w = os.pipe()
    reader = FrameReader(r)
    os.write(w, (10).to_bytes(4, "big") + b"only")  # announces 10 bytes, sends 4
    os.close(w)
    assert reader.frames() == []  # the short read says nothing about EOF yet
    with pytest.raises(EOFError):
        reader.frames()
    reader.close()
