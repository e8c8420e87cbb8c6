"""A real paho subscriber for tests: collects what a topic filter receives.

Shared by tests in several folders; it lives here (not in conftest.py) so that it has a
module name of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


class Subscriber:
    """A real paho client that records every message it gets, for assertions.

    paho's network thread appends to ``messages`` under a condition; the test thread waits
    on that condition with a deadline (``wait_for``), never with a sleep.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.connect_reason: ReasonCode | None = None
        self._changed = threading.Condition()
        self._subscribed: set[int] = set()
        # No auto-reconnect: after a drop the loop thread ends, so close() never waits out a
        # reconnect delay.
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.disconnects = 0
        self._host, self._port = host, port
        if username is not None:
            self.client.username_pw_set(username, password)

    def connect(self, timeout_s: float = 5.0) -> ReasonCode:
        """Connect and wait for the CONNACK; returns its reason code (success or not)."""
        self.client.connect(self._host, self._port, keepalive=30)
        self.client.loop_start()
        assert self.wait_for(lambda: self.connect_reason is not None, timeout_s), "no CONNACK"
        assert self.connect_reason is not None
        return self.connect_reason

    def subscribe(self, topic: str, qos: int = 1, timeout_s: float = 5.0) -> None:
        """Subscribe and wait for the SUBACK."""
        _, mid = self.client.subscribe(topic, qos)
        assert mid is not None
        assert self.wait_for(lambda: mid in self._subscribed, timeout_s), f"no SUBACK: {topic}"

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout_s)

    def count(self, predicate: Callable[[mqtt.MQTTMessage], bool] = lambda _: True) -> int:
        with self._changed:
            return sum(1 for message in self.messages if predicate(message))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        with self._changed:
            self.connect_reason = reason
            self._changed.notify_all()

    def _on_subscribe(self, _c: object, _u: object, mid: int, _r: object, _p: object) -> None:
        with self._changed:
            self._subscribed.add(mid)
            self._changed.notify_all()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def _on_disconnect(self, _c: object, _u: object, _f: object, _r: object, _p: object) -> None:
        with self._changed:
            self.disconnects += 1
            self._changed.notify_all()
