"""1. Control latency: start → ``connected`` and stop → ``disconnected`` on the event stream.

The real server runs in a subprocess against a real Mosquitto; an httpx-sse client reads
``/api/v1/events``. Each sample is timed from just before the ``POST .../start/`` (or
``stop/``) to the arrival of the matching ``site.status`` event, so it includes the HTTP
request, the database write, the actor, paho's CONNACK and SUBACK, the bridge and the fan-out.

Baseline, same run: a bare paho client connecting and subscribing to the same broker (the
floor for start → connected), and a bare paho disconnect (→ on_disconnect).
The replaced system: up to ~31 s (a 30-second polling monitor).

Also issue 2's figure: the median and worst of 20 more starts.

Run alone: ``python -m bench.control [--cycles 50]``
"""

from __future__ import annotations

import argparse
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import (
    EventStream,
    Section,
    Server,
    main_for,
    met,
    ms,
    percentile,
    ratio,
    run_section,
    site_status,
    workdir,
)
from sitelink.embedded_broker import Mosquitto

TARGET_P99_S = 0.100


def bare_paho_cycle(port: int, n: int) -> tuple[float, float]:
    """Seconds from connect() to SUBACK, and from disconnect() to on_disconnect."""
    subscribed, gone = threading.Event(), threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{n}",
                         reconnect_on_failure=False)
    client.on_connect = lambda c, *_: c.subscribe([("bench/+/heartbeat", 1), ("bench/x", 1)])
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_disconnect = lambda *_: gone.set()
    started = time.monotonic()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    subscribed.wait(10)
    up = time.monotonic() - started
    started = time.monotonic()
    client.disconnect()
    gone.wait(10)
    down = time.monotonic() - started
    client.loop_stop()
    return up, down


def body(section: Section, cycles: int = 50, extra_starts: int = 20) -> None:
    with workdir("control") as tmp, Mosquitto() as broker:
        server = Server(tmp)
        server.start()
        try:
            site_id = server.create_site("ctl_001", broker.port)
            stream = EventStream(server, {"site_id": site_id, "types": "site.status"}).start()
            ups: list[float] = []
            downs: list[float] = []
            posts: list[float] = []  # the POST's own round trip (storage, audit, the tell)
            failures = 0
            for n in range(cycles + extra_starts):
                started = time.monotonic()
                server.start_site(site_id)
                posts.append(time.monotonic() - started)
                got = stream.wait_for(site_status(site_id, "connected", "error"), 15)
                if got is None or got.data["status"] != "connected":
                    failures += 1
                    continue
                ups.append(got.t - started)
                started = time.monotonic()
                server.stop_site(site_id)
                got = stream.wait_for(site_status(site_id, "disconnected"), 15)
                if got is None:
                    failures += 1
                    continue
                if n < cycles:
                    downs.append(got.t - started)
            stream.close()
        finally:
            server.stop()
        bare = [bare_paho_cycle(broker.port, n) for n in range(cycles)]

    bare_up = [b[0] for b in bare]
    bare_down = [b[1] for b in bare]
    main_ups, issue2 = ups[:cycles], ups[cycles:]
    for label, values, base in (
        ("start → connected", main_ups, bare_up),
        ("stop → disconnected", downs, bare_down),
    ):
        p50, p99, worst = (percentile(values, 50), percentile(values, 99), max(values))
        b50, b99 = percentile(base, 50), percentile(base, 99)
        section.add(f"{label}, p50 ({len(values)} cycles)", ms(p50), f"bare paho {ms(b50)}",
                    ratio(p50, b50))
        section.add(f"{label}, p99", ms(p99), f"bare paho {ms(b99)}", ratio(p99, b99),
                    "< 100 ms", met(p99 < TARGET_P99_S))
        section.add(f"{label}, max", ms(worst), f"bare paho {ms(max(base))}",
                    ratio(worst, max(base)))
    if issue2:
        section.add(f"issue 2: start → connected, median of {len(issue2)} starts",
                    ms(percentile(issue2, 50)), f"bare paho {ms(percentile(bare_up, 50))}",
                    "", "(replaced system: up to ~31 s)")
        section.add(f"issue 2: start → connected, worst of {len(issue2)} starts",
                    ms(max(issue2)), f"bare paho {ms(max(bare_up))}")
    if posts:
        section.note(f"of which the POST .../start/ itself (SQLite update, audit row, re-read of "
                     f"the site, the tell): p50 {ms(percentile(posts, 50))}, p99 "
                     f"{ms(percentile(posts, 99))}; the SSE event often arrives before the POST "
                     "returns.")
    if failures:
        section.note(f"{failures} cycles did not reach the expected status within 15 s")
    section.note("Measured from just before the POST to the arrival of the SSE event: HTTP, "
                 "SQLite write, audit row, actor, CONNACK + SUBACK, bridge, fan-out.")


def run(cycles: int = 50) -> Section:
    return run_section("control", "1. Control latency (start/stop → SSE)",
                       lambda s: body(s, cycles))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args()
    main_for(lambda: run(args.cycles))
