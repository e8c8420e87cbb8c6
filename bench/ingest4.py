"""3b. Ingest over site workers: four busy sites on two workers, against Node-RED 4 taking the
same load over four broker connections in one process.

One Mosquitto (``max_queued_messages 0``) and one load: COUNT v1 heartbeats with four sensors
in all, a quarter on each of four site prefixes (1,000 dataloggers each), written in advance
as raw PUBLISH packets (bench/mqttload.py) and sent by four publishers at once:

- **sitelink** (``sitelink serve`` with ``SITELINK_WORKERS=2``, SQLite): four sites, two on
  each worker; done when the ``reading`` table holds 4 rows per heartbeat (every message
  counted and every device stored);
- **Node-RED 4** (bench/nodered.py): four ``mqtt in`` nodes on four broker connections (JSON)
  → one counting function node; done when it counted COUNT.

Rate = COUNT / (last message handled - first packet sent); the best of ``rounds``. Before the
first round each site gets one heartbeat per device (sitelink discovers its 4,000 devices).

Run alone: ``python -m bench.ingest4 [--count 40000] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import threading
import time

from bench import mqttload, nodered
from bench.common import (
    READINGS_MAX_ID_SQL,
    Section,
    Server,
    cpu_by_process,
    cpu_by_thread,
    cpu_split,
    main_for,
    met,
    proc_cpu_s,
    rate,
    ratio,
    run_section,
    workdir,
)
from bench.ingest import DEVICES, SENSORS, TIMEOUT_S, Load, Outcome, _topic, _wait
from sitelink.embedded_broker import Mosquitto

SITES = 4
WORKERS = 2


def publish_all(port: int, streams: list[list[bytes]], tag: str) -> float:
    """The streams at once, one publisher each; the monotonic time the first packet went."""
    starts: list[float] = []
    threads = [threading.Thread(target=lambda n=n, s=s: starts.append(
        mqttload.publish("127.0.0.1", port, s, client_id=f"bench-load-{tag}-{n}")))
        for n, s in enumerate(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return min(starts)


class Sitelink:
    def __init__(self, server: Server, prefixes: list[str]) -> None:
        self.server = server
        self.prefixes = prefixes
        self.site_ids: list[int] = []

    def start(self, broker_port: int) -> None:
        self.server.start()
        self.site_ids = [self.server.create_site(p, broker_port, enabled=True)
                         for p in self.prefixes]
        if not _wait(lambda: all(self.server.status(i)["status"] == "connected"
                                 for i in self.site_ids), 30):
            raise RuntimeError("sitelink's sites did not connect")

    def max_reading_id(self) -> int:
        import sqlite3

        uri = f"file:{self.server.db_path}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as db:
            return int(db.execute(READINGS_MAX_ID_SQL).fetchone()[0])

    def run(self, port: int, streams: list[list[bytes]], out: Outcome | None) -> None:
        count = sum(len(s) for s in streams)
        base_id = self.max_reading_id()
        cpu0 = proc_cpu_s(self.server.pid)
        split0, threads0 = cpu_by_process(self.server.pid), cpu_by_thread(self.server.pid)
        started = publish_all(port, streams, "sl")
        deadline = time.monotonic() + TIMEOUT_S
        stored = 0
        while time.monotonic() < deadline:
            time.sleep(0.05)
            stored = self.max_reading_id() - base_id
            if stored >= count * SENSORS:
                break
        done = time.monotonic()
        cpu1 = proc_cpu_s(self.server.pid)
        if out is None:
            return
        if stored < count * SENSORS:
            out.problems.append(f"sitelink stored {stored} of {count * SENSORS} readings")
            return
        out.rates.append(count / (done - started))
        out.cpu_per_1k.append((cpu1 - cpu0) * 1000 / count)
        out.extra.setdefault("threads", []).append(
            cpu_split(threads0, cpu_by_thread(self.server.pid), count / 1000))
        out.extra.setdefault("split", []).append(
            cpu_split(split0, cpu_by_process(self.server.pid), count / 1000))


def run_node_red(red: nodered.NodeRed, port: int, streams: list[list[bytes]],
                 out: Outcome) -> None:
    count = sum(len(s) for s in streams)
    red.reset()
    cpu0 = proc_cpu_s(red.pid)
    started_wall = time.time() - (time.monotonic() - publish_all(port, streams, "nr"))
    deadline = time.monotonic() + TIMEOUT_S
    figures = red.count()
    while figures["count"] < count and time.monotonic() < deadline:
        time.sleep(0.05)
        figures = red.count()
    cpu1 = proc_cpu_s(red.pid)
    if figures["count"] != count or figures["decoded"] != count:
        out.problems.append(f"Node-RED got {figures['count']} ({figures['decoded']} decoded)")
        return
    out.rates.append(count / (figures["last"] / 1000 - started_wall))
    out.cpu_per_1k.append((cpu1 - cpu0) * 1000 / count)


def body(section: Section, count: int = 40_000, rounds: int = 2) -> None:
    load = Load(count // SITES)
    sl_prefixes = [f"bench_w{n}" for n in range(SITES)]
    nr_prefixes = [f"bench_r{n}" for n in range(SITES)]
    outcomes = {"sitelink": Outcome("sitelink"), "Node-RED": Outcome("Node-RED")}
    version = nodered.install()
    with workdir("ingest4") as tmp, Mosquitto(max_queued_messages=0) as broker:
        sitelink = Sitelink(Server(tmp, name="ingest4", env={"SITELINK_WORKERS": str(WORKERS)}),
                            sl_prefixes)
        red = nodered.NodeRed(tmp / "node-red", broker.port, [_topic(p) for p in nr_prefixes])
        try:
            sitelink.start(broker.port)
            sitelink.run(broker.port, [load.packets(p, DEVICES) for p in sl_prefixes], None)
            red.start()
            for _ in range(rounds):
                run_node_red(red, broker.port, [load.packets(p) for p in nr_prefixes],
                             outcomes["Node-RED"])
                sitelink.run(broker.port, [load.packets(p) for p in sl_prefixes],
                             outcomes["sitelink"])
            [root] = sitelink.server.http.get("/api/v1/actors").json()["actors"]
            section.note("sitelink's workers: " + ", ".join(
                f"{w['name']} ({len(w['children'])} sites)" for w in root["children"]))
        finally:
            red.stop()
            sitelink.server.stop()
    sl, nr = outcomes["sitelink"], outcomes["Node-RED"]
    section.add(f"sitelink, {SITES} sites on {WORKERS} workers (stored), {load.count * SITES:,} "
                "msgs", rate(sl.best), f"Node-RED {rate(nr.best)}", ratio(sl.best, nr.best),
                "≥ 1.0x Node-RED", met(nr.best > 0 and sl.best >= nr.best))
    section.add(f"Node-RED {version}, {SITES} connections (mqtt in JSON → function)",
                rate(nr.best), "", "", "", "")
    for o in outcomes.values():
        if o.cpu_per_1k:
            section.note(f"{o.name}: {min(o.cpu_per_1k) * 1000:.0f} ms CPU per 1,000 messages "
                         f"(rates of the rounds: {', '.join(rate(r) for r in o.rates)})")
        for split in o.extra.get("split", []):
            section.note(f"{o.name}: CPU per 1,000 messages by process: {split}")
        for threads in o.extra.get("threads", []):
            section.note(f"{o.name}: CPU per 1,000 messages by thread: {threads}")
        for problem in o.problems:
            section.note(f"PROBLEM: {problem}")


def run(count: int = 40_000, rounds: int = 2) -> Section:
    return run_section("ingest4", "3b. Ingest: 4 busy sites over 2 site workers",
                       lambda s: body(s, count, rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    main_for(lambda: run(args.count, args.rounds))
