"""Micro-benchmark of the per-message hot path: payload decoders and the topic router.

Run: ``.venv/bin/python bench/decoders.py [--sensors 8] [--seconds 0.5]``

Each row is timed in alternation with its reference (``json.loads`` of the same payload for
the decoders, trying each template in order for the router) and the best of seven rounds is
kept for both. Time is this thread's CPU time (``time.thread_time``), not the wall clock: on
a machine shared with other work (load 10 on 2 cores is common here) the wall clock counts
the time the thread waits for a core, which moved the ratios by 2x between runs. The decoder
rows also show the alternatives the fast path was chosen against: the tolerant path alone
(untyped msgspec + per-field checks) and ``json.loads`` + the same checks.

The other formats are timed against ``decode v1`` of as many sensors (target: each at least
0.5x v1): ``sparkplug_b`` as subscriptions run it (``EdgeNodes.receive`` of a DDATA that
carries aliases only, resolved from the DBIRTH), and ``mapped`` through the README's two
maps: CSI-JSON (paths only, so the typed path: msgspec Structs of just what the map reads)
and ThingsBoard telemetry (``keys()``/``values()``, so the generic path: the whole document
parsed, the expressions run as closures).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from sitelink import payloads
from sitelink.actors.sparkplug_nodes import EdgeNodes
from sitelink.payloads.sparkplug import DOUBLE, MetricOut, encode_payload
from sitelink.sparkplug_topics import parse_topic
from sitelink.topics import DEFAULT_SUBSCRIPTIONS, Subscription, TopicMatch, TopicRouter

MAX_PAYLOAD = 262_144
CODE = "site_001"
TOPIC = f"{CODE}/datalogger/monstro/MONSTR-001/heartbeat"

Operation = Callable[[], object]


def compare(operation: Operation, reference: Operation, seconds: float) -> tuple[float, float]:
    """Operations per CPU second of ``operation`` and of ``reference``, in alternation."""
    clock = time.thread_time  # CPU time of this thread: waiting for a core does not count
    batch = 1000
    while True:  # grow the batch until one takes a measurable share of the time
        started = clock()
        for _ in range(batch):
            operation()
        if clock() - started > seconds / 14:
            break
        batch *= 2
    best = [0.0, 0.0]
    for _ in range(7):
        for slot, timed in enumerate((operation, reference)):
            started = clock()
            for _ in range(batch):
                timed()
            best[slot] = max(best[slot], batch / (clock() - started))
    return best[0], best[1]


def sample_payloads(sensors: int) -> dict[str, bytes]:
    v1 = {
        "firmware": "V.5.53.0",
        "uptime_s": 86400,
        "gateway": "1",
        "sensors": [
            {
                "id": f"s{i}",
                "label": f"Sensor {i}",
                "type": "temperature",
                "unit": "°C",
                "value": 20.0 + i / 7,
            }
            for i in range(sensors)
        ],
    }
    v2 = {
        "v": 2,
        "fw": "V.6.0.1",
        "up": 86400,
        "r": {f"s{i}": [20.0 + i / 7, "°C", "temperature"] for i in range(sensors)},
    }
    return {"v1": msgspec.json.encode(v1), "v2": msgspec.json.encode(v2)}


CSI_MAP = {"keys": "head.fields[].name", "values": "data[-1].vals",
           "units": "head.fields[].units", "firmware": "head.environment.os_version",
           "at": "data[-1].time"}
THINGSBOARD_MAP = {"keys": "keys(values)", "values": "values(values)", "at": "ts"}


def format_rows(sensors: int, v1: bytes) -> list[tuple[str, Operation, Operation]]:
    """sparkplug_b and mapped, each beside decode v1 of as many sensors."""
    nodes = EdgeNodes()
    node_birth = parse_topic("spBv1.0/G/NBIRTH/E")
    device_birth = parse_topic("spBv1.0/G/DBIRTH/E/D")
    data_topic = parse_topic("spBv1.0/G/DDATA/E/D")
    assert node_birth and device_birth and data_topic
    nodes.receive(node_birth, encode_payload(timestamp_ms=1, seq=0), 0.0, False)
    nodes.receive(device_birth, encode_payload(timestamp_ms=1, seq=1, metrics=[
        MetricOut(name=f"s{i}", alias=i, datatype=DOUBLE, value=20.0, unit="°C")
        for i in range(sensors)]), 0.0, False)
    ddata = encode_payload(timestamp_ms=1, seq=2, metrics=[
        MetricOut(alias=i, datatype=DOUBLE, send_datatype=False, value=20.0 + i / 7)
        for i in range(sensors)])
    node = nodes.nodes[("G", "E")]

    def sparkplug() -> object:
        node.seq = 1  # the same DDATA each time, so no seq gap is counted
        return nodes.receive(data_topic, ddata, 1.0, False)

    csi = msgspec.json.encode({
        "head": {"environment": {"os_version": "CR1000X.Std.06"},
                 "fields": [{"name": f"s{i}", "type": "xsd:float", "units": "Deg C",
                             "process": "Smp"} for i in range(sensors)]},
        "data": [{"time": "2026-12-05T23:00:00", "no": 1,
                  "vals": [20.0 + i / 7 for i in range(sensors)]}]})
    mapped = payloads.configured_decoder("mapped", CSI_MAP)
    telemetry = msgspec.json.encode({"ts": 1_765_000_000_000,
                                     "values": {f"s{i}": 20.0 + i / 7 for i in range(sensors)}})
    thingsboard = payloads.configured_decoder("mapped", THINGSBOARD_MAP)

    def v1_decode() -> object:
        return payloads.decode("v1", v1, MAX_PAYLOAD)

    return [
        (f"sparkplug_b DDATA ({len(ddata)} bytes)", sparkplug, v1_decode),
        (f"mapped CSI-JSON ({len(csi)} bytes)", lambda: mapped(csi), v1_decode),
        (f"mapped ThingsBoard ({len(telemetry)} bytes)", lambda: thingsboard(telemetry),
         v1_decode),
    ]


def try_in_order(subscriptions: Sequence[Subscription], topic: str) -> TopicMatch | None:
    """What the router replaces: each template's match() in turn."""
    for sub in subscriptions:
        found = sub.template.match(CODE, topic)
        if found is not None:
            return found
    return None


def decoder_rows(version: str, payload: bytes) -> list[tuple[str, Operation, Operation]]:
    tolerant = payloads.v1_from_document if version == "v1" else payloads.v2_from_document

    def baseline() -> object:
        return json.loads(payload)

    return [
        (f"decode {version}", lambda: payloads.decode(version, payload, MAX_PAYLOAD), baseline),
        ("  tolerant path only", lambda: tolerant(payloads.parse_json(payload)), baseline),
        ("  json.loads + checks", lambda: tolerant(json.loads(payload)), baseline),
    ]


def router_row(subscriptions: Sequence[Subscription]) -> tuple[str, Operation, Operation]:
    router = TopicRouter(CODE, subscriptions)
    return (
        f"route, {len(subscriptions)} subscriptions",
        lambda: router.route(TOPIC),
        lambda: try_in_order(subscriptions, TOPIC),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=8, help="sensors per heartbeat")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per row")
    args = parser.parse_args()
    samples = sample_payloads(args.sensors)
    sizes = ", ".join(f"{v} {len(p)} bytes" for v, p in samples.items())
    print(f"{args.sensors} sensors per heartbeat ({sizes})")

    extra = tuple(
        Subscription(id=i, pattern=f"extra{i}/{{model}}/{{serial}}/heartbeat") for i in range(20)
    )
    tables = [
        (
            ("decoder", "decodes/s", "json.loads/s"),
            [row for v, p in samples.items() for row in decoder_rows(v, p)],
        ),
        (("other formats", "decodes/s", "decode v1/s"), format_rows(args.sensors, samples["v1"])),
        (
            ("router", "routes/s", "in order/s"),
            [router_row(DEFAULT_SUBSCRIPTIONS), router_row(extra + DEFAULT_SUBSCRIPTIONS)],
        ),
    ]
    for (title, unit, reference), rows in tables:
        print(f"\n{title:30} {unit:>11} {reference:>13} {'ratio':>6}")
        for name, operation, baseline in rows:
            ops, base = compare(operation, baseline, args.seconds)
            print(f"{name:30} {ops:11,.0f} {base:13,.0f} {ops / base:6.2f}")


def run(sensors: int = 4, seconds: float = 0.3) -> Any:
    """The same rows as a ``bench.common.Section`` (for ``python -m bench``)."""
    from bench.common import met, rate, ratio, run_section

    def body(section: Any) -> None:
        samples = sample_payloads(sensors)
        for version, payload in samples.items():
            name, operation, baseline = decoder_rows(version, payload)[0]
            ops, base = compare(operation, baseline, seconds)
            section.add(f"{name} ({sensors} sensors, {len(payload)} bytes)", rate(ops),
                        f"json.loads {rate(base)}", ratio(ops, base))
        for name, operation, baseline in format_rows(sensors, samples["v1"]):
            ops, base = compare(operation, baseline, seconds)
            section.add(f"{name}, {sensors} sensors", rate(ops), f"decode v1 {rate(base)}",
                        ratio(ops, base), "≥ 0.5x decode v1", met(ops >= 0.5 * base))
        name, operation, baseline = router_row(DEFAULT_SUBSCRIPTIONS)
        ops, base = compare(operation, baseline, seconds)
        section.add(name, rate(ops), f"in order {rate(base)}", ratio(ops, base))

    return run_section("decoders", "0. Per-message hot path: decoders and router", body)


if __name__ == "__main__":
    main()
