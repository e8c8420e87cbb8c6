"""5. Fan-out: 1,000 concurrent SSE clients, a burst of status changes, per-event latency.

The real server (subprocess) with one site of 100 dataloggers on a real Mosquitto. The
clients are one separate process (bench/sse_clients.py: asyncio, raw sockets, parsing
deferred) subscribed to ``types=device.online,device.offline``. The burst: the 100
dataloggers' status topics say ``offline``, then (half a second later) ``online`` -> 200
events, each to every client. Latency of a delivery = its arrival at the client minus the
event's ``at`` (when sitelink's MQTT client received the message; ms precision), so it
covers actor -> bridge -> read model -> hub -> SSE stream -> socket.

Baseline, same run: the same burst with a single client. Every client must get every event
of the burst (ids checked per client).

Run alone: ``python -m bench.fanout [--clients 1000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any

from bench import mqttload
from bench.common import (
    PY,
    REPO,
    Section,
    Server,
    die_with_parent,
    main_for,
    met,
    ms,
    percentile,
    ratio,
    run_section,
    wait_until,
    workdir,
)
from sitelink.embedded_broker import Mosquitto

DEVICES = 100
QUERY = "types=device.online,device.offline"


def _burst(port: int, code: str, status: bytes) -> None:
    packets = [mqttload.publish_packet(mqttload.status_topic(code, i), status)
               for i in range(DEVICES)]
    mqttload.publish("127.0.0.1", port, packets, client_id="bench-fanout-burst")


def _round(server: Server, broker_port: int, code: str, clients: int) -> dict[str, Any]:
    process = subprocess.Popen(
        [PY, "-m", "bench.sse_clients", str(server.port), server.token, str(clients), QUERY],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        preexec_fn=die_with_parent)
    assert process.stdin is not None and process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("ready"):
        process.kill()
        raise RuntimeError(f"SSE clients did not connect: {line!r}")
    connected = int(line.split()[1])
    time.sleep(0.5)
    _burst(broker_port, code, b"offline")
    time.sleep(0.5)
    _burst(broker_port, code, b"online")
    expected = 2 * DEVICES * connected
    deadline = time.monotonic() + 20  # what has not arrived by then counts as missed
    while time.monotonic() < deadline:
        time.sleep(0.25)
        process.stdin.write("count\n")
        process.stdin.flush()
        if int(process.stdout.readline()) >= expected:
            break
    process.stdin.write("report\n")
    process.stdin.flush()
    report = json.loads(process.stdout.readline())
    process.wait(30)
    deliveries = [e for client in report["clients"] for e in client]
    ids = sorted({e[0] for e in deliveries})
    latencies = [arrival - at for _, _, at, arrival in deliveries if at is not None]
    missing = sum(len(set(ids) - {e[0] for e in client}) for client in report["clients"])
    return {"clients": connected, "events": len(ids), "deliveries": len(deliveries),
            "latencies": latencies, "missing": missing, "closed": report["closed"]}


def body(section: Section, clients: int = 1000) -> None:
    env = {"SITELINK_SSE_MAX_CLIENTS": str(clients + 100)}
    with workdir("fanout") as tmp, Mosquitto(max_queued_messages=0) as broker:
        server = Server(tmp, env=env)
        server.start()
        try:
            code = "fan_001"
            site_id = server.create_site(code, broker.port, enabled=True)
            if not wait_until(lambda: server.status(site_id)["status"] == "connected", 20):
                raise RuntimeError("site did not connect")
            packets = mqttload.heartbeats(code, DEVICES, DEVICES)
            mqttload.publish("127.0.0.1", broker.port, packets)
            online = 'sitelink_devices{availability="online"}'
            if not wait_until(lambda: server.metrics().get(online, 0) >= DEVICES, 20):
                raise RuntimeError("devices did not come online")
            single = _round(server, broker.port, code, 1)
            many = _round(server, broker.port, code, clients)
        finally:
            server.stop()

    expected = 2 * DEVICES
    b50, b99 = percentile(single["latencies"], 50), percentile(single["latencies"], 99)
    p50, p99 = percentile(many["latencies"], 50), percentile(many["latencies"], 99)
    section.add(f"{many['clients']} clients: delivery latency p50", ms(p50),
                f"1 client {ms(b50)}", ratio(p50, b50))
    section.add(f"{many['clients']} clients: delivery latency p99", ms(p99),
                f"1 client {ms(b99)}", ratio(p99, b99), "< 250 ms", met(p99 < 0.250))
    section.add(f"{many['clients']} clients: max", ms(max(many["latencies"], default=0)),
                f"1 client {ms(max(single['latencies'], default=0))}")
    complete = (many["missing"] == 0 and many["events"] == expected
                and many["deliveries"] == expected * many["clients"])
    section.add("deliveries (every client got every event)",
                f"{many['deliveries']:,} of {expected * many['clients']:,}",
                f"1 client {single['deliveries']} of {expected}", "", "none missed",
                met(complete))
    section.note(f"burst: {DEVICES} device.offline then {DEVICES} device.online (status "
                 f"topics), {expected} events x {many['clients']} clients; streams closed by "
                 f"the server during the round: {many['closed']}; missing deliveries "
                 f"{many['missing']}")


def run(clients: int = 1000) -> Section:
    return run_section("fanout", "5. Fan-out: SSE clients", lambda s: body(s, clients))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()
    main_for(lambda: run(args.clients))
