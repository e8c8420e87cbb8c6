"""The writer's buffer keeps the newest chunks uncompressed until a megabyte of them waits or
its bound is reached; what it hands out, puts back and drops is the same either way."""

from __future__ import annotations

from sitelink.events import ConnectionEventOccurred
from sitelink.storage import writer_buffer
from sitelink.storage.writer_buffer import Chunk, EventBuffer, encode_events


def events(n: int, start: int = 0) -> list[ConnectionEventOccurred]:
    return [ConnectionEventOccurred(site_id=1, kind="connected", reason=f"r{i:06d}", at=float(i))
            for i in range(start, start + n)]


def test_small_chunks_wait_raw_and_come_out_whole() -> None:
    buffer = EventBuffer(max_bytes=2**20)
    for start in range(0, 30, 3):
        buffer.add(3, encode_events(events(3, start)))
    taken = buffer.take(30)
    assert all(chunk.raw for chunk in taken)
    assert [e for chunk in taken for e in chunk.events()] == events(30)
    buffer.settle(taken)
    assert (len(buffer), buffer.bytes, buffer.taken_bytes) == (0, 0, 0)


def test_raw_chunks_past_their_limit_are_compressed() -> None:
    buffer = EventBuffer(max_bytes=2**30)
    one = encode_events(events(100))
    for _ in range(writer_buffer.RAW_MAX_BYTES // len(one) + 1):
        buffer.add(100, one)
    taken = buffer.take(len(buffer))
    assert not any(chunk.raw for chunk in taken)
    assert sum(len(c.data) for c in taken) == buffer.taken_bytes < writer_buffer.RAW_MAX_BYTES
    assert taken[-1].events() == events(100)


def test_past_the_bound_it_compresses_first_then_drops_the_oldest() -> None:
    one = len(Chunk.of(3, encode_events(events(3))).data)
    buffer = EventBuffer(max_bytes=one * 4)
    for start in range(0, 18, 3):
        buffer.add(3, encode_events(events(3, start)))
    assert buffer.dropped == 6 and len(buffer) == 12 and buffer.bytes <= one * 4
    assert [e for c in buffer.take(12) for e in c.events()] == events(12, 6)


def test_what_is_put_back_goes_first_compressed() -> None:
    buffer = EventBuffer(max_bytes=2**20)
    buffer.add(3, encode_events(events(3)))
    taken = buffer.take(3)
    buffer.add(3, encode_events(events(3, 3)))
    buffer.put_back(taken)
    again = buffer.take(6)
    assert [c.raw for c in again] == [False, True]
    assert [e for c in again for e in c.events()] == events(6)
    assert buffer.bytes == 0 and buffer.taken_bytes == sum(len(c.data) for c in again)
