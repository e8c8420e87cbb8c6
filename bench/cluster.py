"""Cluster failover (issue 14): three instances on one PostgreSQL share 60 sites.

- kill -9 of an instance: seconds until every one of its sites is connected by a survivor
  (baseline: the TTL, after which the leases may be taken; target ≤ TTL + 2 s);
- SIGSTOP of an instance (and its writer process) for longer than the TTL: the same, then
  SIGCONT: client-id takeovers at the broker after the resume (target 0);
- a rolling restart (SIGTERM, start again, settle; each instance in turn): each site's time
  connected by nobody, summed over the whole restart (target p99 ≤ 1 s), as the broker saw
  it: its log is read as it is written (every 10 ms), each connect and disconnect of a site's
  client id stamped when read;
- PostgreSQL transactions per second with the cluster idle (leases, heartbeats, balance).

Otherwise status is read by polling every instance's ``/api/v1/mqtt/sites/`` every 0.1 s, so
those figures carry up to ~0.1 s (plus an HTTP round trip) of resolution. TTL 5 s.

Run alone: ``python -m bench.cluster [--sites 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from bench.common import (
    EventStream,
    Section,
    Server,
    main_for,
    met,
    ms,
    percentile,
    process_tree,
    ratio,
    run_section,
    seed_sites,
    workdir,
)
from sitelink.embedded_broker import Mosquitto

TTL_S = 5.0
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
NAMES = ("node-a", "node-b", "node-c")
TAKEOVER = "already connected, closing old connection"
TOKEN = "bench-cluster-" + uuid.uuid4().hex
async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"sitelink_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def commits(url: str) -> int:
    async def read() -> int:
        connection = await asyncpg.connect(url, timeout=5)
        try:
            return int(await connection.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
        finally:
            await connection.close()
    return asyncio.run(read())


class Cluster:
    def __init__(self, tmp: object, url: str, broker: Mosquitto, sites: list[int]) -> None:
        self.tmp, self.url, self.broker, self.sites = tmp, url, broker, sites
        self.servers: dict[str, Server] = {}

    def start(self, name: str) -> None:
        server = Server(self.tmp, name=name, database_url=self.url,  # type: ignore[arg-type]
                        env={"MQTT_INSTANCE_ID": name, "SITELINK_LEASE_TTL_S": str(TTL_S),
                             "MQTT_SHUTDOWN_TIMEOUT": "3", "SITELINK_ADMIN_TOKEN": TOKEN})
        server.http.headers["Authorization"] = f"Bearer {TOKEN}"  # one database, one token
        server.token = TOKEN
        self.servers[name] = server  # polled (as answering nothing) while it starts
        server.start()

    def runs(self, name: str) -> set[int]:
        server = self.servers[name]
        if server.process is None or server.process.poll() is not None:
            return set()
        try:
            sites = server.http.get("/api/v1/mqtt/sites/", timeout=2).json()["sites"]
        except (httpx.HTTPError, ValueError):
            return set()
        return {s["site_id"] for s in sites if s["status"] == "connected"
                and (s.get("owner") or {}).get("instance_id") == name}

    def connected(self, among: tuple[str, ...]) -> dict[int, int]:
        """site -> how many of ``among`` run it connected."""
        counts = dict.fromkeys(self.sites, 0)
        for name in among:
            for site in self.runs(name):
                counts[site] = counts.get(site, 0) + 1
        return counts

    def wait_all(self, among: tuple[str, ...], timeout_s: float,
                 balanced: bool = False) -> float:
        """Seconds until every site is connected by exactly one of ``among`` (and, when
        ``balanced``, each of them runs its share)."""
        started = time.monotonic()
        share = len(self.sites) // len(among)
        while time.monotonic() - started < timeout_s:
            if all(n == 1 for n in self.connected(among).values()) and (
                    not balanced or all(len(self.runs(name)) >= share for name in among)):
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"not every site connected once within {timeout_s} s")

    def takeovers(self) -> int:
        return self.broker.log().count(TAKEOVER)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop(30)


def body(section: Section, sites: int) -> None:
    with workdir("cluster") as tmp, pg_database() as url, \
            Mosquitto(extra_config=["log_type all"]) as broker:
        ids = seed_sites(url, [{"name": f"c{n}", "code": f"c_{n:03d}", "broker_host": "127.0.0.1",
                                "broker_port": broker.port, "client_id_prefix": "bench",
                                "is_enabled": True} for n in range(sites)])
        cluster = Cluster(tmp, url, broker, ids)
        try:
            for name in NAMES:
                cluster.start(name)
            cluster.wait_all(NAMES, 300, balanced=True)  # idle: nothing moves any more

            before = commits(url)
            started = time.monotonic()
            time.sleep(10)  # measuring a rate over a window: nothing to wait for
            tps = (commits(url) - before) / (time.monotonic() - started)
            section.add("PostgreSQL transactions/s, 3 idle instances", f"{tps:.1f}",
                        f"{sites} sites")
            delays, missing = event_delays(cluster)
            p99 = percentile(delays, 99)
            section.add("event of node-a's site: node-a's stream → node-b's, p50",
                        ms(percentile(delays, 50)), f"{len(delays)} events")
            section.add("event of node-a's site: node-a's stream → node-b's, p99", ms(p99),
                        "", "", "< 250 ms", met(p99 < 0.25 and not missing))
            if missing:
                section.note(f"{missing} events of node-a's stream never reached node-b's")

            victim = cluster.servers["node-b"]
            assert victim.process is not None
            os.kill(victim.pid, signal.SIGKILL)
            killed = time.monotonic()
            victim.process.wait()
            cluster.wait_all(("node-a", "node-c"), 60)
            took = time.monotonic() - killed
            section.add("failover after kill -9 (s)", f"{took:.2f}", f"TTL {TTL_S:g}",
                        ratio(took, TTL_S), f"≤ {TTL_S + 2:g}", met(took <= TTL_S + 2))
            cluster.start("node-b")
            cluster.wait_all(NAMES, 60)

            paused = cluster.servers["node-c"]
            group = process_tree(paused.pid)
            for pid in group:
                os.kill(pid, signal.SIGSTOP)
            stopped = time.monotonic()
            try:
                cluster.wait_all(("node-a", "node-b"), 60)
                took = time.monotonic() - stopped
                evicted = cluster.takeovers()
            finally:
                for pid in group:
                    os.kill(pid, signal.SIGCONT)
            section.add("failover after SIGSTOP (s)", f"{took:.2f}", f"TTL {TTL_S:g}",
                        ratio(took, TTL_S), f"≤ {TTL_S + 2:g}", met(took <= TTL_S + 2))
            cluster.wait_all(NAMES, 60, balanced=True)  # settled before the restart
            after = cluster.takeovers() - evicted
            section.add("takeovers after SIGCONT", str(after), "", "", "0", met(after == 0))

            before_restart = cluster.takeovers()
            down = rolling_restart(cluster, [f"bench-c_{n:03d}" for n in range(sites)])
            fought = cluster.takeovers() - before_restart
            values = sorted(down.values())
            p99 = percentile(values, 99)
            section.add("rolling restart: per-site disconnected time p50 (s)",
                        f"{percentile(values, 50):.2f}")
            section.add("rolling restart: per-site disconnected time p99 (s)", f"{p99:.2f}",
                        "", "", "≤ 1", met(p99 <= 1.0))
            section.add("rolling restart: per-site disconnected time max (s)",
                        f"{values[-1]:.2f}")
            section.add("rolling restart: client-id takeovers", str(fought), "", "", "0",
                        met(fought == 0))
            section.note(f"{sites} sites, 3 instances, TTL {TTL_S:g} s; failover: status polled "
                         "every 0.1 s on every instance (resolution ~0.1-0.2 s); rolling "
                         "restart: the broker's log read every 10 ms")
        finally:
            cluster.stop()
            if keep := os.environ.get("BENCH_KEEP_LOGS"):  # a directory, for a post-mortem
                Path(keep).mkdir(parents=True, exist_ok=True)
                for log in [*Path(str(tmp)).glob("*.log"), broker.log_path]:
                    shutil.copy(log, Path(keep) / log.name)


def event_delays(cluster: Cluster, count: int = 60) -> tuple[list[float], int]:
    """Each status event of node-a's sites on node-a's stream, then on node-b's (same SSE
    id): the cross-instance delay. The events come from reconnects sent to node-c, paced
    0.05 s apart. Also how many of node-a's events never reached node-b's stream."""
    a, b, c = (cluster.servers[name] for name in NAMES)
    mine = set(sorted(cluster.runs("node-a"))[:count])
    on_a = EventStream(a, {"types": "site.status"}).start()
    on_b = EventStream(b, {"types": "site.status"}).start()
    try:
        for site_id in sorted(mine):
            c.http.post(f"/api/v1/mqtt/sites/{site_id}/reconnect/").raise_for_status()
            time.sleep(0.05)  # a pace for the commands, not a wait
        cluster.wait_all(NAMES, 60)
        time.sleep(0.5)  # the last events reach B's stream (a settling pause, not a wait)
        seen_a = {x.id: x.t for x in on_a.drain() if x.data.get("site_id") in mine}
        seen_b = {x.id: x.t for x in on_b.drain()}
    finally:
        on_a.close()
        on_b.close()
    return [seen_b[i] - seen_a[i] for i in seen_a if i in seen_b], len(set(seen_a) - set(seen_b))


def rolling_restart(cluster: Cluster, clients: list[str]) -> dict[str, float]:
    """Each site's time connected by no instance, as the broker saw it, while each instance
    in turn is stopped (SIGTERM), the others settle, and it is started again and takes a
    share back. Settling is read by polling the instances, on a thread of its own (a server
    is started from this one: its parent-death signal follows the thread that spawned it)."""
    settled = threading.Event()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            if all(n == 1 for n in cluster.connected(NAMES).values()):
                settled.set()
            else:
                settled.clear()
            time.sleep(0.1)

    share = len(cluster.sites) // len(NAMES)
    watch = cluster.broker.watch_clients(clients)
    poller = threading.Thread(target=poll, name="cluster-poll", daemon=True)
    poller.start()
    try:
        for name in NAMES:
            cluster.servers[name].stop(60)
            settled.clear()
            if not settled.wait(60):
                raise RuntimeError(f"the others did not take {name}'s sites within 60 s")
            cluster.start(name)
            deadline = time.monotonic() + 60
            while not (settled.is_set() and len(cluster.runs(name)) >= share):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not take a share back within 60 s")
                time.sleep(0.1)
    finally:
        done.set()
        poller.join(10)
    return watch.stop()


def run(sites: int = 60) -> Section:
    return run_section("cluster", "Cluster failover (3 instances on PostgreSQL)",
                       lambda s: body(s, sites))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=60)
    args = parser.parse_args()
    main_for(lambda: run(args.sites))
