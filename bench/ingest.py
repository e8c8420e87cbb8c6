"""3. Ingest: heartbeats of 1,000 devices on one site, end to end, against three baselines.

One Mosquitto (``max_queued_messages 0``: nothing is dropped, a slow subscriber drains its
backlog at its own pace) and one load: COUNT v1 heartbeats with four sensors, round-robin
over 1,000 dataloggers, written in advance as raw PUBLISH packets (bench/mqttload.py), so the
publisher costs next to no CPU. Each contender listens on its own topic prefix and gets the
same payloads, one contender at a time, in the same run:

- **sitelink** (the real server, a subprocess, SQLite): decoded, applied to the device
  actors and stored. Done when the ``reading`` table holds 4 rows per heartbeat (every
  message accounted for) and the site counted every message.
- **bare paho** (bench/paho_sub.py): a paho subscriber that only ``json.loads``.
- **Node-RED 4** (bench/nodered.py): ``mqtt in`` (JSON) → a counting function node.
- **mosquitto_sub** (C): the ceiling; ``-C COUNT``.

Rate = COUNT / (last message handled - first packet sent). The best of ``rounds`` is kept for
every contender (noise only ever slows a run down). Before the first round each contender
gets one heartbeat per device (warm-up: sitelink discovers its 1,000 devices then).

Run alone: ``python -m bench.ingest [--count 40000] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import mqttload, nodered
from bench.common import (
    PY,
    READINGS_COUNT_SQL,
    READINGS_MAX_ID_SQL,
    REPO,
    Section,
    Server,
    die_with_parent,
    main_for,
    met,
    proc_cpu_s,
    rate,
    ratio,
    run_section,
    workdir,
)
from sitelink.embedded_broker import Mosquitto

DEVICES = 1000
SENSORS = 4
TIMEOUT_S = 120.0


@dataclass
class Outcome:
    name: str
    rates: list[float] = field(default_factory=list)
    cpu_per_1k: list[float] = field(default_factory=list)  # CPU seconds per 1,000 messages
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> float:
        return max(self.rates, default=0.0)


def _topic(prefix: str) -> str:
    return f"{prefix}/datalogger/+/+/heartbeat"


class Load:
    """The same payloads on each contender's prefix."""

    def __init__(self, count: int) -> None:
        rng = random.Random(7)
        self.count = count
        self.bodies = [mqttload.heartbeat_payload(rng, 86_400 + n) for n in range(count)]

    def packets(self, prefix: str, count: int | None = None) -> list[bytes]:
        n = self.count if count is None else count
        topics = [mqttload.heartbeat_topic(prefix, i) for i in range(DEVICES)]
        return [mqttload.publish_packet(topics[i % DEVICES], self.bodies[i % len(self.bodies)])
                for i in range(n)]


# --- contenders ----------------------------------------------------------------------------------


def run_mosquitto_sub(port: int, load: Load, prefix: str, out: Outcome) -> None:
    packets = load.packets(prefix)
    # stdbuf: line-buffered output, so that "SUBACK" shows when it happens, not at exit
    argv = ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port),
            "-t", _topic(prefix),
            "-q", "0", "-C", str(load.count), "-i", "bench-mosquitto-sub", "-d"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
    ready, done = threading.Event(), threading.Event()
    counted = [0]
    ended = [0.0]

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if b"SUBACK" in line:
                ready.set()
            elif b"received PUBLISH" in line:
                counted[0] += 1
        ended[0] = time.monotonic()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(10):
        process.kill()
        out.problems.append("mosquitto_sub did not subscribe")
        return
    cpu0 = proc_cpu_s(process.pid)
    started = mqttload.publish("127.0.0.1", port, packets)
    cpu1 = cpu0
    while not done.wait(0.05):
        cpu1 = proc_cpu_s(process.pid) if process.poll() is None else cpu1
        if time.monotonic() - started > TIMEOUT_S:
            process.kill()
            break
    process.wait()
    if counted[0] != load.count:
        out.problems.append(f"mosquitto_sub got {counted[0]} of {load.count}")
        return
    out.rates.append(load.count / (ended[0] - started))
    out.cpu_per_1k.append((cpu1 - cpu0) * 1000 / load.count)


def run_paho(port: int, load: Load, prefix: str, out: Outcome) -> None:
    packets = load.packets(prefix)
    process = subprocess.Popen([PY, "-m", "bench.paho_sub", str(port), _topic(prefix),
                                str(load.count)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                               preexec_fn=die_with_parent)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        out.problems.append("paho subscriber did not subscribe")
        return
    cpu0 = proc_cpu_s(process.pid)
    cpu = [cpu0]

    def sample() -> None:
        while process.poll() is None:
            try:
                cpu[0] = proc_cpu_s(process.pid)
            except (OSError, IndexError):
                return
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    started = mqttload.publish("127.0.0.1", port, packets)
    try:
        line = process.communicate(timeout=TIMEOUT_S)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        out.problems.append("paho subscriber timed out")
        return
    result = json.loads(line.strip().splitlines()[-1])
    if result["count"] != load.count or result["decoded"] != load.count:
        out.problems.append(f"paho got {result['count']} ({result['decoded']} decoded)")
        return
    out.rates.append(load.count / (result["last"] - started))
    out.cpu_per_1k.append((cpu[0] - cpu0) * 1000 / load.count)


def run_node_red(red: nodered.NodeRed, port: int, load: Load, prefix: str, out: Outcome) -> None:
    packets = load.packets(prefix)
    red.reset()
    cpu0 = proc_cpu_s(red.pid)
    started_wall = time.time()
    mqttload.publish("127.0.0.1", port, packets)
    deadline = time.monotonic() + TIMEOUT_S
    figures = red.count()
    while figures["count"] < load.count and time.monotonic() < deadline:
        time.sleep(0.05)
        figures = red.count()
    cpu1 = proc_cpu_s(red.pid)
    if figures["count"] != load.count or figures["decoded"] != load.count:
        out.problems.append(f"Node-RED got {figures['count']} ({figures['decoded']} decoded)")
        return
    out.rates.append(load.count / (figures["last"] / 1000 - started_wall))
    out.cpu_per_1k.append((cpu1 - cpu0) * 1000 / load.count)


class SitelinkContender:
    def __init__(self, tmp: Path, broker_port: int, prefix: str, name: str = "ingest") -> None:
        self.server = Server(tmp, name=name)
        self.prefix = prefix
        self.broker_port = broker_port
        self.sent = 0

    def start(self) -> None:
        self.server.start()
        self.site_id = self.server.create_site(self.prefix, self.broker_port, enabled=True)
        if not _wait(lambda: self.server.status(self.site_id)["status"] == "connected", 20):
            raise RuntimeError("sitelink's site did not connect")

    def readings(self) -> int:
        uri = f"file:{self.server.db_path}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as db:
            row = db.execute(READINGS_COUNT_SQL).fetchone()
        return int(row[0])

    def max_reading_id(self) -> int:
        uri = f"file:{self.server.db_path}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as db:
            row = db.execute(READINGS_MAX_ID_SQL).fetchone()
        return int(row[0])

    def received(self) -> int:
        return int(self.server.status(self.site_id)["messages_received"])

    def run(self, port: int, packets: list[bytes], out: Outcome | None) -> None:
        count = len(packets)
        base_id = self.max_reading_id()
        base_received = self.received()
        cpu0 = proc_cpu_s(self.server.pid)
        started = mqttload.publish("127.0.0.1", port, packets)
        self.sent += count
        received_at: float | None = None
        deadline = time.monotonic() + TIMEOUT_S
        stored = 0
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if received_at is None and self.received() - base_received >= count:
                received_at = time.monotonic()
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
        if received_at is not None:
            out.extra.setdefault("received rates", []).append(count / (received_at - started))

    def stop(self) -> None:
        self.server.stop()


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


# --- the run -------------------------------------------------------------------------------------


def body(section: Section, count: int = 40_000, rounds: int = 2) -> None:
    load = Load(count)
    outcomes = {name: Outcome(name) for name in
                ("sitelink", "bare paho", "Node-RED", "mosquitto_sub")}
    prefixes = {"sitelink": "bench_sl", "bare paho": "bench_pa", "Node-RED": "bench_nr",
                "mosquitto_sub": "bench_mq"}
    red_version = ""
    red_error = ""
    try:
        red_version = nodered.install()
    except Exception as exc:  # no npm or no network: the row says so
        red_error = f"Node-RED not available: {exc}"
    with workdir("ingest") as tmp, Mosquitto(max_queued_messages=0) as broker:
        sitelink = SitelinkContender(tmp, broker.port, prefixes["sitelink"])
        red: nodered.NodeRed | None = None
        try:
            sitelink.start()
            sitelink.run(broker.port, load.packets(prefixes["sitelink"], DEVICES), None)
            if not red_error:
                try:
                    red = nodered.NodeRed(tmp / "node-red", broker.port,
                                          _topic(prefixes["Node-RED"]))
                    red.start()
                except Exception as exc:
                    red_error = f"Node-RED did not start: {exc}"
                    red = None
            for _ in range(rounds):
                run_mosquitto_sub(broker.port, load, prefixes["mosquitto_sub"],
                                  outcomes["mosquitto_sub"])
                run_paho(broker.port, load, prefixes["bare paho"], outcomes["bare paho"])
                if red is not None:
                    run_node_red(red, broker.port, load, prefixes["Node-RED"],
                                 outcomes["Node-RED"])
                sitelink.run(broker.port, load.packets(prefixes["sitelink"]),
                             outcomes["sitelink"])
            total = DEVICES + rounds * count
            readings = sitelink.readings()
            received = sitelink.received()
            seen = sitelink.server.metrics()
            crossings = seen.get("sitelink_bridge_crossings_total", 0.0)
            carried = seen.get("sitelink_bridge_events_total", 0.0)
            if crossings:
                section.note(f"sitelink's bridge carried {carried:,.0f} events in "
                             f"{crossings:,.0f} crossings ({carried / crossings:.1f} per crossing)")
            section.note(f"sitelink accounted for every message: {received} received of {total} "
                         f"sent, {readings} readings stored of {total * SENSORS} expected "
                         f"({'yes' if readings == total * SENSORS and received == total else 'NO'}"
                         ")")
        finally:
            if red is not None:
                red.stop()
            sitelink.stop()

    paho = outcomes["bare paho"].best
    red_rate = outcomes["Node-RED"].best
    sl = outcomes["sitelink"]
    section.add(f"sitelink end to end (decoded, device actors, stored), {count:,} msgs",
                rate(sl.best), f"bare paho {rate(paho)}", ratio(sl.best, paho),
                "≥ 0.6x bare paho", met(paho > 0 and sl.best >= 0.6 * paho))
    if red_rate:
        section.add("sitelink vs Node-RED", rate(sl.best), f"Node-RED {rate(red_rate)}",
                    ratio(sl.best, red_rate), "≥ Node-RED", met(sl.best >= red_rate))
    received_rates = sl.extra.get("received rates", [])
    if received_rates:
        section.add("sitelink: counted by the site actor (before storage)",
                    rate(max(received_rates)), f"bare paho {rate(paho)}",
                    ratio(max(received_rates), paho))
    for name in ("bare paho", "Node-RED", "mosquitto_sub"):
        o = outcomes[name]
        if name == "Node-RED" and red_error:
            section.add("Node-RED 4 (mqtt in → function)", "—", "", "", "", "")
            section.note(red_error)
            continue
        label = {"bare paho": "bare paho (json.loads only)",
                 "Node-RED": f"Node-RED {red_version} (mqtt in JSON → function)",
                 "mosquitto_sub": "mosquitto_sub (C, the ceiling)"}[name]
        section.add(label, rate(o.best), f"bare paho {rate(paho)}", ratio(o.best, paho))
    for o in outcomes.values():
        if o.cpu_per_1k:
            section.note(f"{o.name}: {min(o.cpu_per_1k) * 1000:.0f} ms CPU per 1,000 messages "
                         f"(rates of the rounds: {', '.join(rate(r) for r in o.rates)})")
        for problem in o.problems:
            section.note(f"PROBLEM: {problem}")


def run(count: int = 40_000, rounds: int = 2) -> Section:
    return run_section("ingest", "3. Ingest: 1,000 devices on one site",
                       lambda s: body(s, count, rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    main_for(lambda: run(args.count, args.rounds))
