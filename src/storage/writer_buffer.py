"""The storage writer's buffer: events waiting to be written, kept encoded and bounded by bytes.

Events arrive as msgpack chunks (the frames the parent sends, see ``writer_frames``) and
stay encoded, and compressed (zlib, fastest level), until a flush takes them: a benchmark
heartbeat is ~1.7 KB as Python objects, 458 bytes as msgpack and ~30-60 bytes compressed
(~1 µs to compress), so many minutes of traffic fit while the database is down, and the
bound (``max_bytes``) is a real number of bytes. Past the bound the oldest chunks are
dropped and counted. Loop thread only; no I/O.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Sequence

import msgspec

from sitelink.events import AnyEvent, Event

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[AnyEvent])


def encode_events(events: Sequence[Event]) -> bytes:
    return _encoder.encode(list(events))


def decode_events(data: bytes) -> list[Event]:
    return list(_decoder.decode(data))


class Chunk(msgspec.Struct, frozen=True):
    """``count`` events, encoded and compressed."""

    count: int
    data: bytes

    @classmethod
    def of(cls, count: int, encoded: bytes) -> Chunk:
        return cls(count, zlib.compress(encoded, 1))

    def events(self) -> list[Event]:
        return decode_events(zlib.decompress(self.data))


class EventBuffer:
    """FIFO of encoded chunks. ``take`` hands the oldest out; ``put_back`` returns them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: deque[Chunk] = deque()
        self.events = 0
        """Events in the buffer, not counting those taken and not yet settled."""
        self.bytes = 0
        self.taken_bytes = 0
        self.dropped = 0
        """Events dropped because the buffer was full (the oldest go first)."""

    def add(self, count: int, encoded: bytes) -> None:
        """Keep ``count`` events encoded by ``encode_events`` (compressed here)."""
        if count <= 0:
            return
        chunk = Chunk.of(count, encoded)
        self._chunks.append(chunk)
        self.events += count
        self.bytes += len(chunk.data)
        while self._chunks and self.bytes + self.taken_bytes > self.max_bytes:
            oldest = self._chunks.popleft()
            self.events -= oldest.count
            self.bytes -= len(oldest.data)
            self.dropped += oldest.count

    def take(self, at_least: int) -> list[Chunk]:
        """The oldest chunks holding ``at_least`` events (or all there are)."""
        taken: list[Chunk] = []
        count = 0
        while self._chunks and count < at_least:
            chunk = self._chunks.popleft()
            taken.append(chunk)
            count += chunk.count
            self.events -= chunk.count
            self.bytes -= len(chunk.data)
            self.taken_bytes += len(chunk.data)
        return taken

    def settle(self, taken: Sequence[Chunk]) -> None:
        """The taken chunks were written (or set aside): forget them."""
        self.taken_bytes -= sum(len(c.data) for c in taken)

    def put_back(self, taken: Sequence[Chunk]) -> None:
        """The taken chunks could not be written: they go first again."""
        self.settle(taken)
        for chunk in reversed(taken):
            self._chunks.appendleft(chunk)
            self.events += chunk.count
            self.bytes += len(chunk.data)

    def __len__(self) -> int:
        return self.events
