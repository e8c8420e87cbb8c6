"""``kill -9`` of the server during ingest (issue 11): restarted on the same database,
nothing is damaged and only the last moment before the kill is lost.

A real ``sitelink serve`` on SQLite and on PostgreSQL; 20 dataloggers publish a counter
every 20 ms (1,000 messages/s). After the kill the server starts again on the same file or
database and must show: integrity check ok (SQLite), every device still there, no reading
twice, every reading of each device kept without a gap up to its last stored one, and that
last one published at most 1 s before the kill (the loss window, printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from integration.live import ADMIN_TOKEN, database_url, require_postgres
from ops.support import Running, children_of, clean_env, http_status, process_alive
from sitelink.embedded_broker import Mosquitto, free_port
from sitelink.storage import recent

SITELINK = str(Path(sys.executable).with_name("sitelink"))
DEVICES = 20
PERIOD_S = 0.02
MAX_LOSS_S = 1.0


class Fleet:
    """Publishes ``{"sensors": [{"id": "n", "value": seq}]}`` for every device each period,
    remembering when each seq went out (wall clock)."""

    def __init__(self, broker: Mosquitto, code: str) -> None:
        self.code = code
        self.sent_at: dict[int, float] = {}
        self.seq = 0
        self._stop = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.seq += 1
            for n in range(DEVICES):
                body = f'{{"sensors": [{{"id": "n", "value": {self.seq}}}]}}'
                self.client.publish(f"{self.code}/datalogger/m/d{n:02d}/heartbeat", body, qos=1)
            self.sent_at[self.seq] = time.time()
            next_at += PERIOD_S
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()


def api(port: int, path: str, **params: object) -> dict[str, object]:
    answer = httpx.get(f"http://127.0.0.1:{port}{path}", params=params, timeout=30,
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


def dataloggers(port: int) -> list[dict[str, object]]:
    return api(port, "/api/v1/mqtt/dataloggers/")["dataloggers"]  # type: ignore[return-value]


def readings_query(engine_name: str) -> str:
    return (f"SELECT d.serial AS serial, r.value AS value FROM {recent.source(engine_name)} r "
            "JOIN sensor s ON s.id = r.sensor JOIN device d ON d.id = s.device")


def stored_readings(url: str) -> list[tuple[str, float]]:
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return [(str(s), float(v)) for s, v in db.execute(readings_query("sqlite"))]

    async def read() -> list[tuple[str, float]]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            rows = await connection.fetch(readings_query("postgres"))
            return [(r["serial"], float(r["value"])) for r in rows]
        finally:
            await connection.close()

    return asyncio.run(read())


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_during_ingest_loses_at_most_the_last_second(
        engine: str, tmp_path: Path, mosquitto: Mosquitto,
        start: Callable[..., Running]) -> None:
    if engine == "postgres":
        require_postgres()
    with contextlib.ExitStack() as stack:
        url = database_url(engine, tmp_path, stack)
        env = clean_env(DATABASE_URL=url, SITELINK_ADMIN_TOKEN=ADMIN_TOKEN,
                        SITELINK_SECRET_KEY="kill9-" + "k" * 32, MQTT_INSTANCE_ID="kill9")
        port = free_port()
        first = start("serve", "--port", str(port), env=env)
        first.poll_until(lambda: http_status(f"http://127.0.0.1:{port}/api/v1/mqtt/health/")
                         in (200, 503), 60, "the server answers")
        created = httpx.post(f"http://127.0.0.1:{port}/api/v1/mqtt/sites/", timeout=30,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                             json={"name": "kill9", "code": "kill9", "is_enabled": True,
                                   "broker_host": mosquitto.host, "broker_port": mosquitto.port})
        assert created.status_code == 201, created.text
        first.poll_until(lambda: api(port, "/api/v1/mqtt/health/")["status"] == "healthy",
                         60, "the site connects")

        fleet = Fleet(mosquitto, "kill9")
        stack.callback(fleet.stop)
        first.poll_until(lambda: len(dataloggers(port)) == DEVICES, 60, "every device stored")
        steady_from = fleet.seq
        first.poll_until(lambda: fleet.seq >= steady_from + 100, 60, "two more seconds of ingest")
        writers = children_of(first.pid)
        killed_at = time.time()
        os.kill(first.pid, signal.SIGKILL)
        fleet.stop()
        first.wait(30)
        deadline = time.monotonic() + 30  # the storage writer child must follow its parent
        while any(process_alive(pid) for pid in writers) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling /proc: no event to wait on
        assert not any(process_alive(pid) for pid in writers), "an orphaned writer child"

        again = start("serve", "--port", str(port), env=env)
        again.poll_until(lambda: http_status(f"http://127.0.0.1:{port}/api/v1/mqtt/health/")
                         == 200, 60, "the server after kill -9")
        assert sorted(d["serial_number"] for d in dataloggers(port)) == [  # type: ignore[type-var]
            f"d{n:02d}" for n in range(DEVICES)]
        rows = stored_readings(url)
        assert len(rows) == len(set(rows)), "a reading stored twice"
        by_device: dict[str, list[int]] = {}
        for serial, value in rows:
            by_device.setdefault(serial, []).append(int(value))
        last_kept = []
        for serial, values in sorted(by_device.items()):
            values.sort()
            assert values == list(range(values[0], values[-1] + 1)), f"a gap in {serial}"
            last_kept.append(values[-1])
        loss_s = killed_at - fleet.sent_at[min(last_kept)]
        print(f"\nkill -9 on {engine}: readings kept up to {loss_s:.3f} s before the kill "
              f"({len(rows)} readings, {DEVICES} devices)")
        assert loss_s <= MAX_LOSS_S
        if engine == "sqlite":
            again.interrupt(group=False)
            assert again.wait(30) == 0
            with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
