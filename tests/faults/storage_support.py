"""What the storage fault tests share: a real ``sitelink serve`` in a subprocess, a real
Mosquitto, a publisher of heartbeats, and reads of the database behind sitelink's back.

``Served`` starts ``sitelink serve`` (the installed script) on a free port with the settings
given as environment variables, in a session of its own (``tests.ops.support.Running``), and
talks to it over HTTP with the bootstrap admin token. ``Fleet`` publishes v1 heartbeats at
QoS 1 from the test, each carrying a value of its own, so that what storage kept can be
counted exactly.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ops.support import Running, children_of, clean_env
from sitelink.embedded_broker import Mosquitto, free_port

TOKEN = "fault-admin-" + secrets.token_urlsafe(12)


def sitelink_script() -> str:
    script = Path(sys.executable).parent / "sitelink"
    return str(script) if script.exists() else shutil.which("sitelink") or "sitelink"


class Served:
    """``sitelink serve`` in a subprocess; ``close`` kills its whole process group."""

    def __init__(self, database_url: str, tmp: Path, **settings: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = clean_env(DATABASE_URL=database_url, SITELINK_ADMIN_TOKEN=TOKEN,
                        SITELINK_SECRET_KEY="fault-secret-" + secrets.token_hex(8),
                        SITELINK_LOG_FORMAT="json", SITELINK_RETRY_BASE_S="0.2",
                        SITELINK_RETRY_MAX_S="1", **settings)
        self.process = Running([sitelink_script(), "serve", "--port", str(self.port)],
                               cwd=tmp, env=env, log_dir=tmp)
        self.http = httpx.Client(base_url=self.base, timeout=30,
                                 headers={"Authorization": f"Bearer {TOKEN}"})

    def wait_healthy(self, timeout_s: float = 60) -> float:
        return self.process.poll_until(lambda: self.status("/api/v1/mqtt/health/") == 200,
                                       timeout_s, "health answers 200")

    def status(self, path: str, timeout_s: float = 5) -> int | None:
        try:
            return self.http.get(path, timeout=timeout_s).status_code
        except httpx.TransportError:
            return None

    def health(self, timeout_s: float = 10) -> tuple[int, dict[str, Any]]:
        answer = self.http.get("/api/v1/mqtt/health/", timeout=timeout_s)
        return answer.status_code, answer.json()

    def add_site(self, code: str, broker: Mosquitto) -> int:
        answer = self.http.post("/api/v1/mqtt/sites/", json={
            "name": code, "code": code, "broker_host": broker.host, "broker_port": broker.port,
            "is_enabled": True})
        assert answer.status_code == 201, answer.text
        site_id: int = answer.json()["site_id"]
        self.process.poll_until(
            lambda: self.http.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()["status"]
            == "connected", 30, "the site connects")
        return site_id

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as {name{labels}: value}."""
        found: dict[str, float] = {}
        for line in self.http.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                found[name] = float(value)
        return found

    def rss_kib(self) -> int:
        """Resident memory of the server and its children (the storage writer), in KiB."""
        total = 0
        for pid in [self.process.pid, *children_of(self.process.pid)]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if match := re.search(r"^VmRSS:\s+(\d+) kB", status, re.M):
                total += int(match[1])
        return total

    def lines(self, pattern: str) -> list[str]:
        """Output lines (stdout and stderr) that match ``pattern``."""
        self.process._stderr.flush()
        text = self.process.stderr_path.read_text(errors="replace").splitlines()
        regex = re.compile(pattern)
        return [line for line in [*self.process.lines, *text] if regex.search(line)]

    def close(self) -> None:
        self.http.close()
        self.process.close()


class Fleet:
    """A paho publisher of v1 heartbeats for the devices of one site (QoS 1)."""

    def __init__(self, broker: Mosquitto, code: str) -> None:
        self.code = code
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-" + code)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.sent = 0
        self._last: mqtt.MQTTMessageInfo | None = None

    def heartbeat(self, serial: str, sensors: list[dict[str, Any]], **fields: Any) -> None:
        self.raw(serial, json.dumps({"sensors": sensors, **fields}).encode())

    def raw(self, serial: str, payload: bytes, model: str = "m") -> None:
        topic = f"{self.code}/datalogger/{model}/{serial}/heartbeat"
        self._last = self.client.publish(topic, payload, qos=1)
        self.sent += 1

    def paced(self, seconds: float, per_second: int, serials: list[str],
              during: Callable[[float], None] | None = None) -> None:
        """Heartbeats at ``per_second`` for ``seconds``, round-robin over ``serials``, each
        with a value of its own (``self.sent``); ``during(elapsed)`` is called every tick."""
        started, first = time.monotonic(), self.sent
        tick = 0.05
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * per_second)
            while self.sent - first < due:
                n = self.sent
                self.heartbeat(serials[n % len(serials)], [{"id": "n", "value": n}])
            if during is not None:
                during(elapsed)
            time.sleep(tick)  # pacing a publisher, not waiting for a timer of the server

    def flush(self, timeout_s: float = 30) -> None:
        if self._last is not None:
            self._last.wait_for_publish(timeout_s)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
