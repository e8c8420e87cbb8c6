"""2. Failure detection: broker killed → ``error`` on the stream; broker back → ``connected``.

The broker is SIGKILLed (a crash: the socket drops without a DISCONNECT). Detection latency
is timed from the kill to the arrival of the ``site.status`` event ``error``; the baseline
is a bare paho client's ``on_disconnect`` for the same kill, in the same run.

Recovery: the broker comes back on the same port, either at once (before the retry is due)
or after the first retry failed. ``connected`` is compared with the retry that was due: the
``next_retry_at`` of the last ``error`` event before it (ms precision), or the moment the
broker came back if that was later. Target: detection < 1 s; connected within due retry + 1 s.

The retry base is 1 s here (``SITELINK_RETRY_BASE_S``) and the stable period 1 s, so that a
round takes seconds; the lifecycle is the same at any base.

Run alone: ``python -m bench.failure [--rounds 6]``
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
    iso_to_unix,
    main_for,
    met,
    ms,
    percentile,
    run_section,
    site_status,
    workdir,
)
from sitelink.embedded_broker import Mosquitto

RETRY_BASE_S = 1.0


class BarePaho:
    """A bare paho client that notes when it sees the drop."""

    def __init__(self, port: int) -> None:
        self.up = threading.Event()
        self.down_at: float | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare-failure",
                                  reconnect_on_failure=False)
        self.client.on_connect = lambda *_: self.up.set()
        self.client.on_disconnect = self._gone
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()
        self.up.wait(5)

    def _gone(self, *_: object) -> None:
        self.down_at = time.monotonic()

    def close(self) -> None:
        self.client.loop_stop()


def body(section: Section, rounds: int = 6) -> None:
    detect: list[float] = []
    bare: list[float] = []
    late: list[float] = []
    rows: list[str] = []
    env = {"SITELINK_RETRY_BASE_S": str(RETRY_BASE_S), "SITELINK_RETRY_RESET_S": "1"}
    with workdir("failure") as tmp, Mosquitto() as broker:
        server = Server(tmp, env=env)
        server.start()
        try:
            site_id = server.create_site("fail_001", broker.port)
            stream = EventStream(server, {"site_id": site_id, "types": "site.status"}).start()
            server.start_site(site_id)
            if stream.wait_for(site_status(site_id, "connected"), 15) is None:
                raise RuntimeError("the site never connected")
            for n in range(rounds):
                time.sleep(1.3)  # connected longer than the stable period: backoff resets
                slow = n % 2 == 1  # odd rounds: the broker stays away past the first retry
                watcher = BarePaho(broker.port)
                stream.drain()
                killed = time.monotonic()
                broker.kill()
                got = stream.wait_for(site_status(site_id, "error"), 10)
                if got is None:
                    rows.append(f"round {n + 1}: no error event within 10 s")
                    broker.start()
                    continue
                detect.append(got.t - killed)
                if watcher.down_at is not None:
                    bare.append(watcher.down_at - killed)
                watcher.close()
                due = iso_to_unix(got.data.get("next_retry_at"))
                if slow:
                    # wait for the first retry to fail (a second error with a new due time)
                    again = stream.wait_for(site_status(site_id, "error"), 10)
                    if again is not None:
                        due = iso_to_unix(again.data.get("next_retry_at"))
                back_wall = time.time()
                broker.start()
                connected = stream.wait_for(site_status(site_id, "connected"), 15)
                if connected is None or due is None:
                    rows.append(f"round {n + 1}: not connected again within 15 s")
                    continue
                expected = max(due, back_wall)
                late.append(connected.wall - expected)
                rows.append(
                    f"round {n + 1} ({'after a failed retry' if slow else 'back before the retry'}"
                    f"): error after {ms(detect[-1])}; connected {ms(connected.wall - expected)} "
                    f"after the due retry")
            stream.close()
        finally:
            server.stop()

    if detect:
        section.add(f"broker killed → error, p50 ({len(detect)} kills)", ms(percentile(detect, 50)),
                    f"bare paho on_disconnect {ms(percentile(bare, 50))}")
        section.add("broker killed → error, max", ms(max(detect)),
                    f"bare paho {ms(max(bare)) if bare else '—'}", "", "< 1 s",
                    met(max(detect) < 1.0))
    if late:
        section.add("broker back → connected, after the due retry, p50",
                    ms(percentile(late, 50)), "due retry (next_retry_at)")
        section.add("broker back → connected, after the due retry, max", ms(max(late)),
                    "due retry (next_retry_at)", "", "≤ due + 1 s", met(max(late) <= 1.0))
    for row in rows:
        section.note(row)
    section.note(f"SITELINK_RETRY_BASE_S={RETRY_BASE_S:g}, jitter 0.2; a negative figure "
                 "means before the announced (ms-rounded) due time.")


def run(rounds: int = 6) -> Section:
    return run_section("failure", "2. Failure detection and recovery", lambda s: body(s, rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    main_for(lambda: run(args.rounds))
