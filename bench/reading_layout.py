"""6c. SQLite's reading table once it has grown: what a flush of readings costs, three ways.

Why the storage writer is most of a busy instance's CPU (bench/PROPOSALS.md, issue 15): on a
grown table each sensor's newest ``(sensor, at)`` index entries sit on a leaf page of their
own, so a flush writes (to the log, then at checkpoint to the file) about one 4 KiB page per
sensor it touches, however few readings each has. Here, on a table shaped like ``reading``
(rowid, sensor, text time, value; the ``at`` and ``(sensor, at)`` indexes; no foreign key,
whose check would cost every case the same) of 4,000 and of 16,000 sensors, grown first, one
run compares the CPU of ``FLUSHES`` flushes of ``PER_FLUSH`` readings (a quarter second of
``bench.ingest4``'s load):

- **arrival order**: each flush's rows as the heartbeats came (the writer before 8fa02b7);
- **sorted by sensor**: the same rows in the index's order (the writer from 8fa02b7 until
  the recent table);
- **recent table**: rows appended to an unindexed table, moved into ``reading`` sorted every
  ``MERGE_EVERY`` flushes (ten seconds): the design ``sitelink.storage.recent`` built, which
  merges every minute or 200,000 readings (PROPOSALS.md).

Each case ends with a checkpoint (its cost is the writer's too), runs twice, alternating with
the others, and the least CPU counts (the machine is shared). The writer's own overheads
(decoding, device and sensor rows) are not here: this is the reading table alone.

Run alone: ``python -m bench.reading_layout``
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path

from bench.common import Section, main_for, ratio, run_section

FLEETS = (4_000, 16_000)  # sensors: bench.ingest's one site, bench.ingest4's four
GROWN_PER_SENSOR = 60  # every sensor's newest entries on a leaf of their own
PER_FLUSH = 7_000  # readings in a quarter second at 1,750 heartbeats/s
FLUSHES = 80
MERGE_EVERY = 40  # flushes: ten seconds of quarter-second flushes
FLUSH_S = 0.25
ROUNDS = 2

_SCHEMA = (
    "CREATE TABLE reading (id INTEGER PRIMARY KEY, sensor INTEGER NOT NULL, at TEXT, "
    "value REAL)",
    "CREATE INDEX reading_at ON reading (at)",
    "CREATE INDEX reading_sensor_at_ix ON reading (sensor, at)",
    "CREATE TABLE reading_recent (id INTEGER PRIMARY KEY, sensor INTEGER NOT NULL, at TEXT, "
    "value REAL)",
)
_MERGE = ("INSERT INTO reading (sensor, at, value) "
          "SELECT sensor, at, value FROM reading_recent ORDER BY sensor, at")

Row = tuple[int, str, float]


class Readings:
    """Readings of ``sensors`` sensors round-robin, one every half millisecond, as the
    writer stores them on SQLite (the text of the aware UTC datetime)."""

    def __init__(self, sensors: int) -> None:
        self.sensors = sensors
        self.count = 0
        self.start = time.time()

    def fork(self) -> Readings:
        """The readings that come next, taken again from here by another case."""
        other = Readings(self.sensors)
        other.count, other.start = self.count, self.start
        return other

    def take(self, n: int) -> list[Row]:
        first, self.count = self.count, self.count + n
        return [(i % self.sensors + 1, str(datetime.fromtimestamp(self.start + i * 0.0005, UTC)),
                 random.random()) for i in range(first, first + n)]


def _open(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA wal_autocheckpoint = 0")  # as the writer: checkpoints apart
    return connection


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    yield
    connection.execute("COMMIT")


def _append(connection: sqlite3.Connection, table: str, rows: list[Row]) -> None:
    with _transaction(connection):
        connection.executemany(f"INSERT INTO {table} (sensor, at, value) VALUES (?, ?, ?)",
                               rows)


def _arrival(connection: sqlite3.Connection, rows: list[Row], _flush: int) -> None:
    _append(connection, "reading", rows)


def _sorted(connection: sqlite3.Connection, rows: list[Row], _flush: int) -> None:
    rows.sort(key=itemgetter(0))  # stable: each sensor's readings stay in time order
    _append(connection, "reading", rows)


def _recent(connection: sqlite3.Connection, rows: list[Row], flush: int) -> None:
    _append(connection, "reading_recent", rows)
    if flush % MERGE_EVERY == MERGE_EVERY - 1:
        with _transaction(connection):
            connection.execute(_MERGE)
            connection.execute("DELETE FROM reading_recent")


Case = Callable[[sqlite3.Connection, list[Row], int], None]
CASES: dict[str, Case] = {"arrival order": _arrival, "sorted by sensor": _sorted,
                          f"recent table, merged every {MERGE_EVERY * FLUSH_S:g} s": _recent}


def _flushes(connection: sqlite3.Connection, readings: Readings, case: Case) -> float:
    """CPU seconds of FLUSHES flushes and the checkpoint after them (rows built outside)."""
    cpu = 0.0
    for flush in range(FLUSHES):
        rows = readings.take(PER_FLUSH)
        started = time.process_time()
        case(connection, rows, flush)
        cpu += time.process_time() - started
    started = time.process_time()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return cpu + time.process_time() - started


def _grow(path: Path, readings: Readings) -> None:
    connection = _open(path)
    for statement in _SCHEMA:
        connection.execute(statement)
    for _ in range(readings.sensors * GROWN_PER_SENSOR // PER_FLUSH):
        _sorted(connection, readings.take(PER_FLUSH), 0)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    connection.close()


def body(section: Section) -> None:
    per = FLUSHES * PER_FLUSH / 1000
    for sensors in FLEETS:
        with tempfile.TemporaryDirectory(prefix="sitelink-bench-") as tmp:
            grown, copy = Path(tmp) / "grown.db", Path(tmp) / "case.db"
            readings = Readings(sensors)
            _grow(grown, readings)
            best = {name: float("inf") for name in CASES}
            for _ in range(ROUNDS):
                for name, case in CASES.items():
                    # every case on a copy of the same grown table, with the same readings
                    shutil.copyfile(grown, copy)
                    connection = _open(copy)
                    best[name] = min(best[name], _flushes(connection, readings.fork(), case))
                    connection.close()
        baseline = best["arrival order"] * 1000 / per
        for name, cpu in best.items():
            section.add(f"{sensors:,} sensors, {name}: ms CPU per 1,000 readings",
                        f"{cpu * 1000 / per:.2f}", f"arrival order: {baseline:.2f}",
                        ratio(cpu * 1000 / per, baseline))
    section.note(f"each table grown to {GROWN_PER_SENSOR} readings a sensor first; "
                 f"{FLUSHES} flushes of {PER_FLUSH:,} readings a case, the least CPU of "
                 f"{ROUNDS} runs, each on a copy of the grown table; checkpoints included")


def run() -> Section:
    return run_section("reading_layout", "6c. SQLite's reading table, grown: a flush three ways",
                       body)


if __name__ == "__main__":
    main_for(run)
