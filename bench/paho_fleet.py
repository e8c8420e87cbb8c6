"""The scale benchmark's baseline: bare paho clients, one per site, each with its own network
thread (``loop_start``, as sitelink's port has one per connection), subscribed to its site's
topics, json-decoding every message and nothing else.

With ``--one-thread`` the same clients share one network thread instead (a selector over
their sockets, ``loop_read``/``loop_write``, and ``loop_misc`` once a second): the design of
proposal P4, measured on bare paho before building it into sitelink.

``python -m bench.paho_fleet PORT SITES [--first N] [--one-thread]``: the sites numbered N
(default 1) on; prints ``ready`` once every client has its SUBACK, then runs until stdin
closes; ``count`` on stdin prints the messages received so far.

paho's own loop waits in ``select()``, which takes no file descriptor above 1023: with a
client's socket and its wake-up pair that is about 340 clients a process. Past that a
client's loop fails at once and its connection closes (the broker logs "closed its
connection"), so ``bench.scale`` runs a thread-per-client fleet as several processes of at
most ``PER_PROCESS`` clients.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PER_PROCESS = 250


def one_network_thread(clients: list[mqtt.Client]) -> None:
    """Drive every client from this thread: read what is readable, write what waits."""
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.socket(), selectors.EVENT_READ, client)
    misc_at = time.monotonic()
    while True:
        for key, _ in selector.select(1.0):
            key.data.loop_read()
            if key.data.want_write():
                key.data.loop_write()
        if time.monotonic() - misc_at >= 1.0:
            misc_at = time.monotonic()
            for client in clients:
                client.loop_misc()
                if client.want_write():
                    client.loop_write()


def main() -> None:
    port, sites = int(sys.argv[1]), int(sys.argv[2])
    options = sys.argv[3:]
    shared = "--one-thread" in options
    first = int(options[options.index("--first") + 1]) if "--first" in options else 1
    lock = threading.Lock()
    state = {"subscribed": 0, "messages": 0}
    all_subscribed = threading.Event()

    def on_connect(client: mqtt.Client, userdata: str, *_: object) -> None:
        client.subscribe([(f"{userdata}/datalogger/+/+/heartbeat", 1),
                          (f"{userdata}/datalogger/+/+/status", 1),
                          (f"{userdata}/gateway/+/heartbeat", 1)])

    def on_subscribe(*_: object) -> None:
        with lock:
            state["subscribed"] += 1
            if state["subscribed"] >= sites:
                all_subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(ValueError):
            json.loads(msg.payload)
        with lock:
            state["messages"] += 1

    clients = []
    for n in range(first, first + sites):
        code = f"site_{n:03d}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-fleet-{code}",
                             userdata=code)
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect("127.0.0.1", port, keepalive=60)
        if not shared:
            client.loop_start()
        clients.append(client)
    if shared:
        threading.Thread(target=one_network_thread, args=(clients,), daemon=True).start()
    if all_subscribed.wait(120):
        print("ready", flush=True)
    else:
        print(f"only {state['subscribed']} of {sites} clients subscribed", flush=True)
        return
    for line in sys.stdin:
        if line.strip() == "count":
            print(state["messages"], flush=True)
    for client in clients:
        client.disconnect()
        if not shared:
            client.loop_stop()


if __name__ == "__main__":
    main()
