"""A database outage is an outage of storage, not of sitelink (issue 11, point 5).

A real ``sitelink serve`` talks to PostgreSQL through ``PgProxy``; a real Mosquitto carries
heartbeats from the test, each with a value of its own. The proxy resets or black-holes the
link for ``FAULT_OUTAGE_S`` seconds (60 by default, as the issue says) in the middle of the
traffic. Meanwhile the API must keep answering within its bounds and health must say that
storage is down; afterwards every heartbeat sent must be in the database, once.

The old code failed each of these: the sites list answered 500 (reset) or hung (black
hole), health stayed ``healthy``, the writer dropped its batch after ~8 s of failures, and
a server started against an unreachable database exited with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from integration.live import pg_database, require_postgres
from ops.support import children_of, process_alive
from sitelink.embedded_broker import Mosquitto

from .pg_proxy import Mode, PgProxy
from .storage_support import Fleet, Served

OUTAGE_S = float(os.environ.get("FAULT_OUTAGE_S", "60"))
RATE = 200  # heartbeats per second, over 20 devices
DB_TIMEOUT_S = 2.0

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    with pg_database() as url:
        yield url


@pytest.fixture
def proxy() -> Iterator[PgProxy]:
    made = PgProxy(5432)
    yield made
    made.close()


def through(url: str, proxy: PgProxy) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


async def _readings(url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS total, count(DISTINCT value) AS distinct_values FROM reading")
        return int(row["total"]), int(row["distinct_values"])
    finally:
        await connection.close()


def readings(url: str) -> tuple[int, int]:
    """(readings, distinct values) in the database, read behind sitelink's back."""
    return asyncio.run(_readings(url))


async def _late_device(url: str) -> bool:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        return bool(await connection.fetchval("SELECT count(*) FROM device WHERE serial = 'LATE'"))
    finally:
        await connection.close()


def late_device_stored(url: str) -> bool:
    return asyncio.run(_late_device(url))


class Observer:
    """Asks the API every half second, one thread per question (so that one slow answer
    does not hide the others), timing every answer."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.seen: dict[str, list[dict[str, Any]]] = {"sites": [], "dataloggers": [],
                                                      "health": []}
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name, path), daemon=True)
                         for name, path in (("sites", "/api/v1/mqtt/sites/"),
                                            ("dataloggers", "/api/v1/mqtt/dataloggers/"),
                                            ("health", "/api/v1/mqtt/health/"))]
        for thread in self._threads:
            thread.start()

    def _run(self, name: str, path: str) -> None:
        while not self._stop.wait(0.5):
            began = time.monotonic()
            seen: dict[str, Any] = {"at": began - self.started, "status": None}
            try:
                answer = self.server.http.get(path, timeout=15)
                seen["status"] = answer.status_code
                if name == "health":
                    seen["storage_ok"] = answer.json()["storage"]["ok"]
                    metrics = self.server.metrics()
                    seen["buffer"] = metrics.get("sitelink_storage_buffer_bytes", 0.0)
                    seen["lag"] = metrics.get("sitelink_storage_lag_events", 0.0)
            except Exception as exc:
                seen["error"] = repr(exc)
            seen["took"] = time.monotonic() - began
            self.seen[name].append(seen)

    def between(self, name: str, start: float, end: float) -> list[dict[str, Any]]:
        return [s for s in self.seen[name] if start <= s["at"] < end]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reset", "blackhole"])
def test_a_database_outage_mid_ingest_costs_nothing(
    mode: Mode, pg_url: str, proxy: PgProxy, unqueued_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    mosquitto = unqueued_mosquitto
    server = Served(through(pg_url, proxy), tmp_path, SITELINK_DB_TIMEOUT_S=str(DB_TIMEOUT_S))
    fleet: Fleet | None = None
    observer: Observer | None = None
    try:
        server.wait_healthy()
        server.add_site("fault_pg", mosquitto)
        fleet = Fleet(mosquitto, "fault_pg")
        serials = [f"DL{i:02d}" for i in range(20)]
        fleet.paced(5, RATE, serials)
        observer = Observer(server)
        proxy.set_mode(mode)
        down_at = time.monotonic() - observer.started
        fleet.paced(OUTAGE_S / 2, RATE, serials)
        # a device first heard during the outage: announced, and stored once the database
        # is back (looking its id up must not hold everyone's events meanwhile)
        fleet.paced(OUTAGE_S / 2, RATE, [*serials, "LATE"])
        proxy.set_mode("forward")
        up_at = time.monotonic() - observer.started
        fleet.paced(5, RATE, serials)
        fleet.flush()
        sent = fleet.sent
        deadline = time.monotonic() + 120
        while readings(pg_url)[1] < sent and time.monotonic() < deadline:
            time.sleep(0.5)  # the backlog being written: polled from outside
        written_after = time.monotonic() - observer.started - up_at
        observer.stop()
        total, distinct = readings(pg_url)
        peak_buffer = max(s.get("buffer", 0) for s in observer.seen["health"])
        peak_lag = max(s.get("lag", 0) for s in observer.seen["health"])
        print(f"\n{mode} {OUTAGE_S:g} s: sent {sent}, stored {distinct} distinct of {total} rows, "
              f"written {written_after:.1f} s after the restore; peak buffer {peak_buffer:,.0f} B "
              f"for {peak_lag:,.0f} events ({peak_buffer / max(peak_lag, 1):.1f} B each); "
              f"dropped {server.metrics().get('sitelink_storage_dropped_events_total')}")

        assert late_device_stored(pg_url)
        # Nothing lost within the buffer's bound, everything written after.
        assert distinct == sent, f"{sent - distinct} of {sent} heartbeats lost"
        assert server.metrics()["sitelink_storage_dropped_events_total"] == 0
        if mode == "reset":
            assert total == sent, f"{total - sent} duplicates"
        # Health said storage was down within seconds and for as long as it was.
        health = observer.between("health", down_at, up_at)
        assert health and all(s["status"] is not None and s["took"] < 5 for s in health), health
        first_down = next(s["at"] for s in health if s["status"] == 503)
        assert first_down - down_at < 10, health
        assert all(s["status"] == 503 and s["storage_ok"] is False
                   for s in health if s["at"] > first_down), health
        # The API kept answering: the sites list from the live state; a token verified before
        # waits at most 1 s for the database (the very first requests of a black hole, the
        # database timeout), and not at all once the writer knows storage is down.
        sites = observer.between("sites", down_at, up_at)
        assert len(sites) > OUTAGE_S, sites
        assert all(s["status"] == 200 and s["took"] < 2 * DB_TIMEOUT_S for s in sites), sites
        assert all(s["took"] < 1.5 for s in sites if s["at"] > first_down + 1), sites
        # Reads that need the database answer within their bound: data or 503, never a hang.
        loggers = observer.between("dataloggers", down_at, up_at)
        assert loggers and all(s["status"] in (200, 503) and s["took"] < 3 * DB_TIMEOUT_S
                               for s in loggers), loggers
        code, body = server.health()
        assert code == 200 and body["storage"]["ok"] is True
    finally:
        if observer is not None:
            observer.stop()
        if fleet is not None:
            fleet.close()
        server.close()


@pytest.mark.parametrize("mode", ["reset", "blackhole"])
def test_started_while_the_database_is_unreachable(
    mode: Mode, pg_url: str, proxy: PgProxy, tmp_path: Path
) -> None:
    """One line naming host, port and the reason, no traceback; it waits, and serves as
    soon as the database answers (the old code exited: a 49-line traceback, or after 11 s
    with an empty reason)."""
    proxy.set_mode(mode)
    server = Served(through(pg_url, proxy), tmp_path, SITELINK_DB_TIMEOUT_S=str(DB_TIMEOUT_S))
    try:
        where = f"127.0.0.1:{proxy.port}"
        server.process.poll_until(lambda: bool(server.lines(f"cannot reach PostgreSQL at {where}")),
                                  30, "a line naming the database")
        tries = proxy.accepted
        server.process.poll_until(lambda: proxy.accepted >= tries + 2, 30, "it tries again")
        said = server.lines("cannot reach PostgreSQL")
        # each reason said once (a reset may come during the connect or just after it)
        reasons = [line.split(f"{where}: ", 1)[1].split(";")[0] for line in said]
        assert said and len(reasons) == len(set(reasons)) <= 3, said
        reason = said[0].split(f"{where}: ", 1)[1]
        assert reason.strip('"}; ').split(";")[0], said[0]  # a reason, not an empty string
        if mode == "blackhole":
            assert f"no answer within {DB_TIMEOUT_S:g} s" in said[0]
        assert not server.lines("Traceback"), server.process.report()
        proxy.set_mode("forward")
        server.wait_healthy(30)
    finally:
        with contextlib.suppress(Exception):
            server.close()


def test_stopped_while_waiting_for_the_database(pg_url: str, proxy: PgProxy,
                                                tmp_path: Path) -> None:
    """Ctrl-C (or a stop signal) while the database does not answer at start: the server
    stops at once, exit status 0, and takes its site workers with it (it used to wait for
    the database through every signal, until killed)."""
    proxy.set_mode("reset")
    server = Served(through(pg_url, proxy), tmp_path, SITELINK_WORKERS="2")
    try:
        server.process.poll_until(lambda: bool(server.lines("cannot reach PostgreSQL")), 30,
                                  "a line naming the database")
        children = children_of(server.process.pid)
        assert len(children) == 2, "the site workers run while the database is awaited"
        server.process.interrupt(group=False)
        assert server.process.wait(15) == 0, server.process.report()
        assert server.lines("stopped before the database answered"), server.process.report()
        assert not [pid for pid in children if process_alive(pid)], "a site worker left behind"
    finally:
        server.close()
