"""Many concurrent SSE clients in one process (asyncio, raw sockets): the fan-out load.

``python -m bench.sse_clients PORT TOKEN CLIENTS QUERY``: opens CLIENTS streams of
``GET /api/v1/events?QUERY``, prints ``ready N`` once all of them have their greeting, then
records every event: its id, type, ``at`` (from the data) and the wall time its bytes
arrived (time.time(), stamped in ``data_received`` before any parsing). Commands on stdin:
``count`` prints how many events arrived so far (all streams); ``report`` prints one JSON
line with, per client, the list of (id, type, at, arrival), then exits.

Parsing is deferred to the report so that the clients cost as little as possible while the
burst is delivered (two cores: the server needs the other one).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


class Stream(asyncio.Protocol):
    def __init__(self, request: bytes, greeted: asyncio.Event) -> None:
        self.request = request
        # Bytes as they came, in one buffer (keeping each recv()'s bytes object would keep a
        # 256 KiB mmap per chunk alive, and 1,000 streams exhaust vm.max_map_count), and
        # (arrival, end offset) per chunk.
        self.raw = bytearray()
        self.marks: list[tuple[float, int]] = []
        self.greeted = greeted
        self.buffer = b""
        self.is_greeted = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.raw += data
        self.marks.append((now, len(self.raw)))
        if not self.is_greeted:
            self.buffer += data
            if b": connected" in self.buffer:
                self.is_greeted = True
                self.buffer = b""
                self.greeted.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def events(self) -> list[tuple[int, str, float | None, float]]:
        """(id, type, at, arrival) of every event, parsed from the raw chunks in order; an
        event's arrival is that of the chunk that completed it."""
        parser = _Parser()
        found: list[tuple[int, str, float | None, float]] = []
        start = 0
        for arrival, end in self.marks:
            data, start = bytes(self.raw[start:end]), end
            for block in parser.feed(data):
                fields: dict[str, str] = {}
                for line in block.split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep and key in ("id", "event", "data"):
                        fields[key] = value
                if "id" not in fields:
                    continue
                at = None
                try:
                    parsed = json.loads(fields.get("data", "null"))
                    at = _unix(parsed.get("at")) if isinstance(parsed, dict) else None
                except ValueError:
                    pass
                found.append((int(fields["id"]), fields.get("event", ""), at, arrival))
        return found


class _Parser:
    """HTTP/1.1 response head, chunked transfer coding, then SSE blocks."""

    def __init__(self) -> None:
        self.raw = b""
        self.head_done = False
        self.body = b""

    def feed(self, data: bytes) -> list[str]:
        self.raw += data
        if not self.head_done:
            _head, sep, rest = self.raw.partition(b"\r\n\r\n")
            if not sep:
                return []
            self.head_done, self.raw = True, rest
        while True:  # take every complete chunk
            end = self.raw.find(b"\r\n")
            if end < 0:
                break
            size = int(self.raw[:end].split(b";")[0] or b"0", 16)
            if len(self.raw) < end + 2 + size + 2:
                break
            self.body += self.raw[end + 2:end + 2 + size]
            self.raw = self.raw[end + 2 + size + 2:]
            if size == 0:
                break
        blocks = []
        while True:
            end = self.body.find(b"\r\n\r\n")
            if end < 0:
                return blocks
            blocks.append(self.body[:end].decode(errors="replace"))
            self.body = self.body[end + 4:]


def _unix(text: str | None) -> float | None:
    if not text:
        return None
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def main() -> None:
    port, token, clients, query = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    request = (f"GET /api/v1/events?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    streams: list[Stream] = []
    greetings: list[asyncio.Event] = []
    for n in range(clients):
        greeted = asyncio.Event()
        stream = Stream(request, greeted)
        await loop.create_connection(lambda s=stream: s, "127.0.0.1", port)  # type: ignore[misc]
        streams.append(stream)
        greetings.append(greeted)
        if n % 50 == 49:
            await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*(g.wait() for g in greetings)), 120)
    print(f"ready {len(streams)}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        command = (await reader.readline()).strip()
        if command == b"report" or not command:
            break
        if command == b"count":  # events received so far, all streams (a cheap scan)
            print(sum(s.raw.count(b"\r\nid: ") + s.raw.startswith(b"id: ")
                      for s in streams), flush=True)
    report = {"closed": sum(s.closed for s in streams),
              "clients": [s.events() for s in streams]}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
