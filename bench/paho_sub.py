"""The bare paho baseline: a subscriber that only json-decodes, in a process of its own.

``python -m bench.paho_sub PORT TOPIC COUNT``: prints ``ready`` once subscribed, then, after
COUNT messages, one JSON line: count, decoded, first and last arrival (time.monotonic(), which
is system-wide on Linux, so the parent can compare it with its own clock).
"""

from __future__ import annotations

import json
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> None:
    port, topic, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    state = {"count": 0, "decoded": 0, "first": 0.0, "last": 0.0}

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe(topic, 0)

    def on_subscribe(*_: object) -> None:
        print("ready", flush=True)

    def on_message(client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if not state["count"]:
            state["first"] = now
        try:
            json.loads(msg.payload)
            state["decoded"] += 1
        except ValueError:
            pass
        state["count"] += 1
        state["last"] = now
        if state["count"] >= count:
            client.disconnect()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho-sub")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_forever()
    print(json.dumps(state), flush=True)


if __name__ == "__main__":
    main()
