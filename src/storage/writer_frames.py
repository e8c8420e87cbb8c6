"""The frames the storage writer process and its parent exchange (see ``remote_writer``):
msgpack messages, each prefixed with its length (4 bytes, little-endian)."""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from sitelink.events import DeviceDiscovered, DeviceKey

_LENGTH = struct.Struct("<I")


class Submit(msgspec.Struct, tag=True, array_like=True):
    """``count`` events, encoded once by the parent as a msgpack list of ``AnyEvent``; the
    child keeps them encoded until it writes them (``writer_buffer``)."""

    count: int
    events: msgspec.Raw


class Ensure(msgspec.Struct, tag=True, array_like=True):
    request: int
    discovered: list[DeviceDiscovered]


class Forget(msgspec.Struct, tag=True, array_like=True):
    device: DeviceKey


class Close(msgspec.Struct, tag=True, array_like=True):
    pass


class Ready(msgspec.Struct, tag=True, array_like=True):
    pass


class Ensured(msgspec.Struct, tag=True, array_like=True):
    request: int
    ids: list[tuple[DeviceKey, int]]
    error: str = ""


class Stats(msgspec.Struct, tag=True, array_like=True):
    lag: int
    dropped: int
    last_flush_s: float
    storage_ok: bool = True
    buffered_bytes: int = 0
    rejects: dict[str, int] = {}
    error: str = ""


class Closed(msgspec.Struct, tag=True, array_like=True):
    lag: int


ToChild = Submit | Ensure | Forget | Close
ToParent = Ready | Ensured | Stats | Closed

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
