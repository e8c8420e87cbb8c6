"""The storage writer's buffer: events waiting to be written, kept encoded and bounded by bytes.

Events arrive as msgpack chunks (the frames the parent sends, see ``writer_frames``) and
stay encoded, and compressed (zlib, fastest level), until a flush takes them: a benchmark
heartbeat is ~1.7 KB as Python objects, 458 bytes as msgpack and ~30-60 bytes compressed
(~1 µs to compress), so many minutes of traffic fit while the database is down, and the
bound (``max_bytes``) is a real number of bytes. Past the bound the oldest chunks are
dropped and counted. Loop thread only; no I/O.

The newest chunks wait uncompressed until ``RAW_MAX_BYTES`` of them do, or the bound is
reached: a flush usually takes them first, and compressing each small chunk as it came
(~50 µs each, mostly zlib's setup, ~100 chunks a second from an idle fleet) was a third of
the idle writer's CPU. What is compressed and what is dropped past the bound are the same.
``RAW_MAX_BYTES`` is 16 MiB, not 1: a busy writer flushes a quarter second's heartbeats at
a time (~1.6 MB at 14,000/s), more after a merge of recent readings held its loop, and at
1 MiB it compressed part of them only to decompress them at once (``bench.writer``'s busy
row, two runs: 0.87x and 0.97x of the CPU per heartbeat with 1 MiB).
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Sequence

import msgspec

from sitelink.events import AnyEvent, DeviceHeartbeat, Event, LeaseFence, SiteTraffic

RAW_MAX_BYTES = 16 << 20
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[AnyEvent])


# What only refreshes latest values, appends readings and adds to counters: it may wait for
# the writer's routine flush. Any other event (a status, a connection event, an availability
# change, a discovery, a command's outcome) is news that a client may ask the database about
# at once (the dashboard refetches a second after the live event): it is flushed sooner.
ROUTINE: frozenset[type[Event]] = frozenset({DeviceHeartbeat, SiteTraffic, LeaseFence})


def has_news(events: Sequence[Event]) -> bool:
    return any(type(event) not in ROUTINE for event in events)


def encode_events(events: Sequence[Event]) -> bytes:
    return _encoder.encode(list(events))


def decode_events(data: bytes) -> list[Event]:
    return list(_decoder.decode(data))


class Chunk(msgspec.Struct, frozen=True):
    """``count`` events, encoded, and compressed unless ``raw``."""

    count: int
    data: bytes
    raw: bool = False

    @classmethod
    def of(cls, count: int, encoded: bytes) -> Chunk:
        return cls(count, zlib.compress(encoded, 1))

    def packed(self) -> Chunk:
        return Chunk.of(self.count, self.data) if self.raw else self

    def events(self) -> list[Event]:
        return decode_events(self.data if self.raw else zlib.decompress(self.data))


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
        self._raw_bytes = 0  # of the raw chunks, always the newest ones

    def add(self, count: int, encoded: bytes) -> None:
        """Keep ``count`` events encoded by ``encode_events`` (compressed in time)."""
        if count <= 0:
            return
        self._chunks.append(Chunk(count, encoded, raw=True))
        self.events += count
        self.bytes += len(encoded)
        self._raw_bytes += len(encoded)
        if self._raw_bytes > RAW_MAX_BYTES or self.bytes + self.taken_bytes > self.max_bytes:
            self._pack()
        while self._chunks and self.bytes + self.taken_bytes > self.max_bytes:
            oldest = self._chunks.popleft()
            self.events -= oldest.count
            self.bytes -= len(oldest.data)
            self.dropped += oldest.count

    def _pack(self) -> None:
        """Compress the raw chunks (the newest)."""
        packed: list[Chunk] = []
        while self._chunks and self._chunks[-1].raw:
            packed.append(self._chunks.pop().packed())
        for chunk in reversed(packed):
            self._chunks.append(chunk)
            self.bytes += len(chunk.data)
        self.bytes -= self._raw_bytes
        self._raw_bytes = 0

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
            if chunk.raw:
                self._raw_bytes -= len(chunk.data)
        return taken

    def settle(self, taken: Sequence[Chunk]) -> None:
        """The taken chunks were written (or set aside): forget them."""
        self.taken_bytes -= sum(len(c.data) for c in taken)

    def put_back(self, taken: Sequence[Chunk]) -> None:
        """The taken chunks could not be written: they go first again (compressed: the
        raw chunks are the newest)."""
        self.settle(taken)
        for chunk in reversed([c.packed() for c in taken]):
            self._chunks.appendleft(chunk)
            self.events += chunk.count
            self.bytes += len(chunk.data)

    def __len__(self) -> int:
        return self.events
