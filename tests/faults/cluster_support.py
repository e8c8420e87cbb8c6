"""A real cluster for the fault tests: ``sitelink serve`` processes on one PostgreSQL
database of their own and one Mosquitto that logs every connection (``log_type all``), so
that a client-id takeover ("already connected, closing old connection") can be counted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from integration.live import ADMIN_TOKEN, wait_until
from ops.support import Running, clean_env, http_status
from sitelink.embedded_broker import Mosquitto, free_port

SITELINK = str(Path(sys.executable).with_name("sitelink"))
TTL_S = 3
TAKEOVER = "already connected, closing old connection"
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Instance:
    name: str
    port: int
    process: Running

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, headers=HEADERS, timeout=5).json()

    def connected(self) -> set[int]:
        """Sites this instance says it runs itself and that are connected."""
        try:
            sites = self.get("/api/v1/mqtt/sites/")["sites"]
        except (httpx.HTTPError, ValueError):
            return set()
        return {s["site_id"] for s in sites if s["status"] == "connected"
                and (s.get("owner") or {}).get("instance_id") == self.name}


@dataclass
class Cluster:
    start: Callable[..., Running]
    database_url: str
    broker: Mosquitto
    instances: dict[str, Instance] = field(default_factory=dict)
    site_ids: list[int] = field(default_factory=list)

    def env(self, instance_id: str, database_url: str | None = None) -> dict[str, str]:
        return clean_env(DATABASE_URL=database_url or self.database_url,
                         SITELINK_ADMIN_TOKEN=ADMIN_TOKEN,
                         SITELINK_SECRET_KEY="cluster-" + "k" * 32, MQTT_INSTANCE_ID=instance_id,
                         SITELINK_LEASE_TTL_S=str(TTL_S), SITELINK_LOG_FORMAT="json",
                         MQTT_SHUTDOWN_TIMEOUT="3")

    def cli(self, *argv: str) -> str:
        """What ``sitelink ARGV`` prints (it reads the database, as an operator's would)."""
        done = subprocess.run([SITELINK, *argv], env=self.env("cli"), capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, check=True)
        return done.stdout

    def launch(self, name: str, port: int | None = None, database_url: str | None = None,
               instance_id: str | None = None) -> Instance:
        """``sitelink serve`` under MQTT_INSTANCE_ID ``instance_id`` (default: ``name``, the
        name it is expected to have in the cluster), once it answers."""
        port = port or free_port()
        process = self.start("serve", "--port", str(port),
                             env=self.env(instance_id or name, database_url))
        instance = self.instances[name] = Instance(name, port, process)
        process.poll_until(
            lambda: http_status(f"{instance.url}/api/v1/mqtt/health/") in (200, 503), 60,
            f"{name} answers")
        return instance

    def add_sites(self, count: int, client_id_prefix: str = "cluster") -> None:
        first = next(iter(self.instances.values()))
        for n in range(count):
            answer = httpx.post(f"{first.url}/api/v1/mqtt/sites/", headers=HEADERS, timeout=10,
                                json={"name": f"Site {n}", "code": f"cl_{n:03d}",
                                      "broker_host": self.broker.host,
                                      "broker_port": self.broker.port,
                                      "client_id_prefix": client_id_prefix,
                                      "is_enabled": True})
            assert answer.status_code == 201, answer.text
            self.site_ids.append(answer.json()["site_id"])

    def live(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.process.process.poll() is None]

    def runs(self, among: list[Instance] | None = None) -> dict[str, set[int]]:
        return {i.name: i.connected() for i in (among or self.live())}

    def settled(self, among: list[Instance] | None = None) -> bool:
        """Every site connected by exactly one of ``among`` (default: the live instances),
        each running the floor or the ceiling of the average (so none is more than one
        above it, and nothing more moves)."""
        runs = self.runs(among)
        everyone = [s for sites in runs.values() for s in sites]
        if sorted(everyone) != sorted(self.site_ids):
            return False
        average = len(self.site_ids) / len(runs)
        return all(int(average) <= len(s) <= -int(-average // 1) for s in runs.values())

    def wait_settled(self, timeout_s: float, what: str,
                     among: list[Instance] | None = None) -> float:
        """Seconds until ``settled``; fails the test at the deadline, saying who runs what."""
        return wait_for(lambda: self.settled(among), timeout_s,
                        lambda: f"{what}: {self.runs(among)}\n{self.reports()}")

    def reports(self) -> str:
        return "\n".join(f"--- {i.name}\n{i.process.report(15)}"
                         for i in self.instances.values())

    def takeovers(self) -> int:
        return self.broker.log().count(TAKEOVER)

    def takeover_report(self) -> str:
        """The broker's log around each takeover, and which instance ran what when."""
        lines = self.broker.log().splitlines()
        shown = [line for n, line in enumerate(lines)
                 if any(TAKEOVER in other for other in lines[max(0, n - 12):n + 3])]
        return "\n".join(shown[-80:]) + "\n" + self.reports()

    def stop(self, name: str) -> None:
        """SIGTERM, and wait for the process to end after its orderly stop (uvicorn raises
        the signal again once it has shut down: the exit status says SIGTERM)."""
        instance = self.instances[name]
        os.kill(instance.process.pid, signal.SIGTERM)
        assert instance.process.wait(60) in (0, -signal.SIGTERM), instance.process.report()
        assert '"sitelink stopped"' in instance.process.stderr_path.read_text(errors="replace")

    def lease_owners(self) -> dict[int, str | None]:
        """Who holds each valid lease, as the database says now."""
        async def read() -> dict[int, str | None]:
            connection = await asyncpg.connect(self.database_url)
            try:
                rows = await connection.fetch(
                    'SELECT "site_id", "owner" FROM "site_lease" WHERE "expires_at" > now()')
            finally:
                await connection.close()
            return {row["site_id"]: row["owner"] for row in rows}

        return asyncio.run(read())


def wait_for(check: Callable[[], bool], timeout_s: float, what: Callable[[], str]) -> float:
    """Seconds until ``check()`` is true (``wait_until``, polled every 0.2 s: the servers
    are other processes); fails the test at the deadline."""
    started = time.monotonic()
    wait_until(check, timeout_s, interval_s=0.2, message=what)
    return time.monotonic() - started
