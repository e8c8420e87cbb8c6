"""The cyclic garbage collector, set for processes that handle many small messages.

Every sitelink process (the server, its site workers, its storage writer) makes and drops
thousands of small objects a second: decoded events, their sensors, the rows of a flush.
With Python's default thresholds (700, 10, 10) a young collection ran every few hundred
heartbeats, moved what a batch in hand still held into the older generations, and so set
off full collections, which walk the whole heap. In ``python -m bench.ingest4`` (80,000
messages, two rounds) the collector took 1.9 s of the four processes' 14.9 s of CPU, most
of it in full collections; with the thresholds below, 0.5 s of 13.8 s. Most of what a
batch makes is freed by reference counting once the batch is handled, so a young
collection every 50,000 allocations finds mostly what truly lives on. Garbage in
reference cycles is still collected, a little later.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Set this process's collector thresholds (call once, at its start)."""
    gc.set_threshold(*THRESHOLDS)
