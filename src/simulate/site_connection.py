"""One simulated site's MQTT connection: a paho client run without a paho thread."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


class SiteConnection:
    """One site's paho client, run without a paho thread: the publishing thread writes each
    publish straight to the socket and, between publishes, reads acks, pings and reconnects
    (``Simulator._pump``). One thread per site would cost a GIL hand-over per message, which
    capped ten sites at ~8k msg/s; this way they share one thread and reach the single-site rate.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        self.answered = False  # the first CONNACK (or refusal) arrived
        self.failure: str | None = None
        self.reconnected = False  # set on a later CONNACK: statuses must be re-sent
        self.retry_at: float | None = None  # when to reconnect after losing the connection
        self.retry_delay_s = 1.0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{code}")
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if self.answered:
            self.reconnected = not rc.is_failure
        else:
            self.answered, self.failure = True, str(rc) if rc.is_failure else None
        if not rc.is_failure:
            self.retry_delay_s = 1.0

    def lost(self, now: float) -> None:
        """The connection dropped: try again after a delay that doubles up to 5 s."""
        if self.retry_at is None:
            self.retry_at = now + self.retry_delay_s
            self.retry_delay_s = min(2 * self.retry_delay_s, 5.0)

    def io(self, readable: bool, writable: bool, now: float) -> None:
        rc = self.client.loop_read() if readable else mqtt.MQTT_ERR_SUCCESS
        if rc == mqtt.MQTT_ERR_SUCCESS and writable:
            rc = self.client.loop_write()
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self.lost(now)

    def housekeeping(self, now: float) -> None:
        """Keepalive pings, and the reconnect when it is due."""
        if self.retry_at is None:
            if self.client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                self.lost(now)
        elif now >= self.retry_at:
            self.retry_at = None
            try:
                self.client.reconnect()
            except OSError:
                self.lost(now)
