"""The MQTT port: the one place where sitelink touches paho-mqtt.

A SiteActor owns one ``MqttPort``. The port never decides anything; it turns calls into
paho calls and paho callbacks into messages told to its owner, each stamped with the
attempt number so the owner can drop what a previous attempt says late.

Rules learned the hard way (see LIBRARY-NOTES.md):

* An exception inside a paho callback kills paho's thread while ``is_connected()`` still
  says True, so every callback is wrapped and only ``tell``s.
* paho retries forever on its own unless told not to; the lifecycle owns retries here, so
  ``reconnect_on_failure=False`` and a fresh client per attempt.
* We connect with the blocking ``connect()`` on our own per-attempt thread: that way a DNS
  or TCP error reaches us as an exception with words in it (``connect_async`` only says
  "failed"). The connected client then goes to the process's network thread
  (``mqtt_network``), which runs every connection; the attempt's thread ends.
* Incoming messages are batched: the callback appends to a buffer and tells the owner
  ``MessagesReady`` only when the buffer was empty, so under load one hand-off carries
  many messages.
* paho's TLS wrapping leaks the socket of a refused handshake and checks host names even
  when told not to; ``BufferedClient._ssl_wrap_socket`` leaves all of it to the context,
  and ``_create_socket`` closes what a failed TLS or WebSocket handshake left open.
* paho reads each packet with three or more ``recv`` calls (command byte, length bytes,
  body); every one is a system call that lets go of the GIL, and under load getting it back
  means waiting for whichever thread took it. ``BufferedClient`` reads the socket in
  64 KiB chunks and serves paho's small reads from memory.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec
import paho.mqtt.client as mqtt
import pykka
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sitelink.actors.mqtt_client import BufferedClient
from sitelink.actors.mqtt_failures import describe_failure, refused_filters
from sitelink.actors.mqtt_network import Link, network
from sitelink.actors.mqtt_tls import tls_context
from sitelink.thread_names import name_this_thread

log = structlog.get_logger(__name__)

SESSION_TAKEN_OVER = 142
GOODBYE_WAIT_S = 0.5  # the longest a disconnect waits for paho to have sent its DISCONNECT


class BrokerConfig(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int = 1883
    client_id: str
    username: str | None = None
    password: str | None = None
    protocol: str = "3.1.1"
    keepalive_s: int = 60
    clean_session: bool = True
    tls: bool = False
    tls_ca_pem: str | None = None
    tls_client_cert_pem: str | None = None
    tls_client_key_pem: str | None = None
    tls_verify_hostname: bool = True
    transport: Literal["tcp", "websockets"] = "tcp"
    ws_path: str = "/mqtt"
    will_topic: str | None = None
    connect_timeout_s: float = 10.0

    def __repr__(self) -> str:  # never show the password or the key, not even in a traceback
        return f"BrokerConfig(host={self.host!r}, port={self.port}, client_id={self.client_id!r})"


class InboundMessage(msgspec.Struct, frozen=True, array_like=True):
    topic: bytes
    payload: bytes
    retain: bool
    at: float


# --- what the port tells its owner --------------------------------------------------------


class PortConnected(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int


class PortConnectFailed(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    reason: str


class PortDisconnected(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    reason: str
    takeover_confirmed: bool = False  # the broker said another client took the session over


class PortSubscribed(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    request: int
    refused: str  # empty when every filter was granted


class PortPublished(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    mid: int
    error: str  # empty when acknowledged


class MessagesReady(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int


class Owner(Protocol):
    def tell(self, message: Any) -> None: ...


class MqttPort(Protocol):
    """What a SiteActor needs from an MQTT client. Called only from the owner's thread."""

    def connect(self, config: BrokerConfig, attempt: int) -> None: ...
    def disconnect(self, goodbye: tuple[str, bytes] | None = None) -> None: ...
    def subscribe(self, filters: Sequence[tuple[str, int]], request: int) -> None: ...
    def unsubscribe(self, filters: Sequence[str]) -> None: ...
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int: ...
    def drain(self) -> list[InboundMessage]: ...


class _Forgiving:
    """Tells the owner, and forgets it when the owner is already gone: paho may call back
    after its SiteActor stopped, and that is not an error."""

    def __init__(self, owner: Owner) -> None:
        self._owner = owner

    def tell(self, message: Any) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._owner.tell(message)


class PahoPort:
    """``MqttPort`` on paho-mqtt 2.x: a fresh client and thread per connect attempt."""

    def __init__(self, owner: Owner, clock_now: Any) -> None:
        self._owner = _Forgiving(owner)
        self._now = clock_now
        self._client: mqtt.Client | None = None
        self._link: Link | None = None  # the client on the network thread, once connected
        self._client_lock = threading.Lock()  # guards _client against the connect thread
        self._attempt = 0
        self._buffer: list[InboundMessage] = []
        self._buffer_lock = threading.Lock()
        # (attempt, mid) -> (request, filters), and SUBACKs that beat their registration:
        # on localhost the SUBACK often arrives before ``client.subscribe`` has returned.
        self._sub_requests: dict[tuple[int, int], tuple[int, list[str]]] = {}
        self._early_subacks: dict[tuple[int, int], list[ReasonCode]] = {}
        self._sub_lock = threading.Lock()

    # --- calls (owner's thread) -----------------------------------------------------------

    def connect(self, config: BrokerConfig, attempt: int) -> None:
        self.disconnect()
        self._attempt = attempt
        v5 = config.protocol == "5"
        try:
            client = self._new_client(config, v5)
        except Exception as exc:  # e.g. a CA that is no certificate: a failed attempt, no crash
            self._owner.tell(PortConnectFailed(attempt=attempt, reason=describe_failure(exc)))
            return
        client.on_connect = self._wrap(self._on_connect, attempt)
        client.on_disconnect = self._wrap(self._on_disconnect, attempt)
        client.on_subscribe = self._wrap(self._on_subscribe, attempt)
        client.on_publish = self._wrap(self._on_publish, attempt)
        client.on_message = self._wrap(self._on_message, attempt)
        client.on_raw_message = self._wrap(self._on_raw_message, attempt)
        clean_start: bool | Literal[3] = (
            config.clean_session if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY
        )
        thread = threading.Thread(
            target=self._run,
            args=(client, config, attempt, clean_start),
            name=f"paho-{config.client_id}",
            daemon=True,
        )
        with self._client_lock:
            self._client = client
        thread.start()

    @staticmethod
    def _new_client(config: BrokerConfig, v5: bool) -> BufferedClient:
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else config.clean_session,
            reconnect_on_failure=False,
            transport=config.transport,
        )
        client.connect_timeout = config.connect_timeout_s
        if config.transport == "websockets":
            client.ws_set_options(path=config.ws_path)
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            client.tls_set_context(tls_context(config))
            client.uses_tls = True
        if config.will_topic:
            client.will_set(config.will_topic, b"offline", qos=1, retain=True)
        return client

    def disconnect(self, goodbye: tuple[str, bytes] | None = None) -> None:
        """A clean goodbye. From a live connection it returns once paho has sent the
        DISCONNECT and closed the socket (at most ``GOODBYE_WAIT_S``), so "down" means gone
        from the broker: a new owner of the site may connect under the same client id."""
        with self._client_lock:
            client, self._client = self._client, None
            link, self._link = self._link, None
        if client is None:
            return
        was_up = False
        try:
            was_up = client.is_connected()
            if goodbye is not None and was_up:
                client.publish(goodbye[0], goodbye[1], qos=0, retain=True)
            client.disconnect()
        except Exception as exc:  # a half-open client may refuse; it is being dropped anyway
            log.debug("disconnect of a dropped client failed", error=str(exc))
        if link is not None:
            network().poke(link)
            if was_up:
                link.closed.wait(GOODBYE_WAIT_S)

    def subscribe(self, filters: Sequence[tuple[str, int]], request: int) -> None:
        if self._client is None or not filters:
            if filters:
                return
            self._tell_subscribed(self._attempt, request, "")
            return
        result, mid = self._client.subscribe(list(filters))
        self._poke()
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            self._tell_subscribed(self._attempt, request, "subscribe not sent")
            return
        key, names = (self._attempt, mid), [f for f, _ in filters]
        with self._sub_lock:
            codes = self._early_subacks.pop(key, None)
            if codes is None:
                self._sub_requests[key] = (request, names)
                return
        self._tell_subscribed(self._attempt, request, refused_filters(names, codes))

    def _tell_subscribed(self, attempt: int, request: int, refused: str) -> None:
        self._owner.tell(PortSubscribed(attempt=attempt, request=request, refused=refused))

    def unsubscribe(self, filters: Sequence[str]) -> None:
        if self._client is not None and filters:
            self._client.unsubscribe(list(filters))
            self._poke()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        if self._client is None:
            return -1
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self._poke()
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return -1
        return info.mid

    def _poke(self) -> None:
        """What the owner's thread queued goes out on the network thread (see mqtt_network)."""
        if self._link is not None:
            network().poke(self._link)

    def drain(self) -> list[InboundMessage]:
        with self._buffer_lock:
            batch, self._buffer = self._buffer, []
        return batch

    # --- the attempt's thread, then the network thread -------------------------------------

    def _run(
        self,
        client: mqtt.Client,
        config: BrokerConfig,
        attempt: int,
        clean_start: bool | Literal[3],
    ) -> None:
        name_this_thread("connect")
        try:
            client.connect(
                config.host, config.port, keepalive=config.keepalive_s, clean_start=clean_start
            )
        except Exception as exc:
            self._owner.tell(PortConnectFailed(attempt=attempt, reason=describe_failure(exc)))
            return

        def failed(exc: Exception) -> None:  # paho's own call died: tell, never vanish
            self._owner.tell(PortDisconnected(attempt=attempt, reason=describe_failure(exc)))

        with self._client_lock:
            # Dropped while connect() was in flight: leaving it up would leave an orphan
            # session with our client id, which the broker would let take over the next one.
            orphan = self._client is not client
            if not orphan:  # the link is ours before its CONNACK can make us subscribe
                self._link = Link(client, failed)
                network().add(self._link)
        if orphan:
            client.disconnect()  # written here: the client never reached the network thread

    def _wrap(self, callback: Any, attempt: int) -> Any:
        def wrapped(*args: Any) -> None:
            try:
                callback(attempt, *args)
            except Exception:
                log.exception("paho callback failed", callback=callback.__name__)

        return wrapped

    def _on_connect(
        self, attempt: int, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        client.answered = True
        if rc.is_failure:
            self._owner.tell(PortConnectFailed(attempt=attempt, reason=describe_failure(rc)))
        else:
            self._owner.tell(PortConnected(attempt=attempt))

    def _on_disconnect(
        self, attempt: int, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        takeover = rc.value == SESSION_TAKEN_OVER
        reason = "Connection lost"
        tls_failure = getattr(client, "tls_failure", None)
        if tls_failure is None and getattr(client, "uses_tls", False) and not client.answered:
            tls_failure = ssl.SSLEOFError()  # closed after the handshake, before a CONNACK
        if tls_failure is not None:
            reason = describe_failure(tls_failure)
        elif takeover:
            reason = "Connection lost: session taken over by another client"
        elif rc.value not in (0, 4, 128):  # a v5 broker said why
            reason = f"Connection lost: {str(rc).lower()}"
        lost = PortDisconnected(attempt=attempt, reason=reason, takeover_confirmed=takeover)
        self._owner.tell(lost)

    def _on_subscribe(
        self, attempt: int, client: Any, userdata: Any, mid: int, codes: list[ReasonCode], p: Any
    ) -> None:
        with self._sub_lock:
            pending = self._sub_requests.pop((attempt, mid), None)
            if pending is None:  # subscribe() has not registered it yet; it will answer
                self._early_subacks[(attempt, mid)] = codes
                return
        request, filters = pending
        self._tell_subscribed(attempt, request, refused_filters(filters, codes))

    def _on_publish(
        self, attempt: int, client: Any, userdata: Any, mid: int, rc: ReasonCode, props: Any
    ) -> None:
        error = str(rc) if rc.is_failure else ""
        self._owner.tell(PortPublished(attempt=attempt, mid=mid, error=error))

    def _on_message(self, attempt: int, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # msg.topic decodes UTF-8 and raises on bad bytes; the raw bytes let the site
        # actor count an invalid topic instead of losing the callback.
        self._on_raw_message(attempt, bytes(msg._topic), bytes(msg.payload), bool(msg.retain))

    def _on_raw_message(self, attempt: int, topic: bytes, payload: bytes, retain: bool) -> None:
        item = InboundMessage(topic, payload, retain, self._now())
        with self._buffer_lock:
            self._buffer.append(item)
            first = len(self._buffer) == 1
        if first:
            self._owner.tell(MessagesReady(attempt=attempt))
