"""One framed channel between this process and a child of its own (the storage writer, a
site worker): msgpack messages, each prefixed with its length (4 bytes, little-endian), over
one end of a socket pair. The child is started as ``python -m MODULE FD`` and reads, as its
first frame, a pickled value (the settings, or what the child needs to begin).
"""

from __future__ import annotations

import pickle
import socket
import struct
import subprocess
import sys
from typing import Any

import msgspec

_LENGTH = struct.Struct("<I")
_encoder = msgspec.msgpack.Encoder()


def frame(message: Any) -> bytes:
    body = _encoder.encode(message)
    return _LENGTH.pack(len(body)) + body


class Frames:
    """Splits a byte stream into frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        start = 0
        while len(self._buffer) - start >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer, start)
            end = start + _LENGTH.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[start + _LENGTH.size:end]))
            start = end
        del self._buffer[:start]
        return frames


def child_argv(module: str, fd: int) -> list[str]:
    """The command line of a child: this interpreter, the module, the channel's descriptor."""
    return [sys.executable, "-m", module, str(fd)]


def first_frame(value: Any) -> bytes:
    """What the parent writes first: ``value`` pickled, in one frame."""
    return frame(pickle.dumps(value))


def spawn(module: str, first: Any) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """A child ``python -m module FD`` and the parent's end of its channel (blocking), the
    pickled ``first`` already written to it."""
    mine, theirs = socket.socketpair()
    with theirs:
        process = subprocess.Popen(child_argv(module, theirs.fileno()),
                                   pass_fds=(theirs.fileno(),))
    mine.sendall(first_frame(first))
    return process, mine


def read_first(sock: socket.socket, frames: Frames) -> tuple[Any, list[bytes]] | None:
    """The child's side: the parent's first value (unpickled) and the frames that came
    with it; None if the parent is gone. Later bytes go on through ``frames``."""
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return None
        got = frames.feed(data)
        if got:
            return pickle.loads(msgspec.msgpack.decode(got[0])), got[1:]
