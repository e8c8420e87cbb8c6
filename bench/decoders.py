"""Micro-benchmark of the per-message hot path: payload decoders and the topic router.

Run: ``.venv/bin/python bench/decoders.py [--sensors 8] [--seconds 0.5]``

Each row is timed in alternation with its reference (``json.loads`` of the same payload for
the decoders, trying each template in order for the router) and the best of seven rounds is
kept for both, so the ratio holds even on a busy machine. The decoder rows also show the
alternatives the fast path was chosen against: the tolerant path alone (untyped msgspec +
per-field checks) and ``json.loads`` + the same checks.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from sitelink import payloads
from sitelink.topics import DEFAULT_SUBSCRIPTIONS, Subscription, TopicMatch, TopicRouter

MAX_PAYLOAD = 262_144
CODE = "site_001"
TOPIC = f"{CODE}/datalogger/monstro/MONSTR-001/heartbeat"

Operation = Callable[[], object]


def compare(operation: Operation, reference: Operation, seconds: float) -> tuple[float, float]:
    """Operations per second of ``operation`` and of ``reference``, measured in alternation."""
    batch = 1000
    while True:  # grow the batch until one takes a measurable share of the time
        started = time.perf_counter()
        for _ in range(batch):
            operation()
        if time.perf_counter() - started > seconds / 14:
            break
        batch *= 2
    best = [0.0, 0.0]
    for _ in range(7):
        for slot, timed in enumerate((operation, reference)):
            started = time.perf_counter()
            for _ in range(batch):
                timed()
            best[slot] = max(best[slot], batch / (time.perf_counter() - started))
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
    from bench.common import rate, ratio, run_section

    def body(section: Any) -> None:
        samples = sample_payloads(sensors)
        for version, payload in samples.items():
            name, operation, baseline = decoder_rows(version, payload)[0]
            ops, base = compare(operation, baseline, seconds)
            section.add(f"{name} ({sensors} sensors, {len(payload)} bytes)", rate(ops),
                        f"json.loads {rate(base)}", ratio(ops, base))
        name, operation, baseline = router_row(DEFAULT_SUBSCRIPTIONS)
        ops, base = compare(operation, baseline, seconds)
        section.add(name, rate(ops), f"in order {rate(base)}", ratio(ops, base))

    return run_section("decoders", "0. Per-message hot path: decoders and router", body)


if __name__ == "__main__":
    main()
