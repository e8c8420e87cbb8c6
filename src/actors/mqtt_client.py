"""paho's client as the MQTT port runs it: ``BufferedClient``.

Part of the MQTT port (``mqtt_port`` makes one per connect attempt; its methods run on
paho's thread for that attempt). It overrides a few paho 2.x internals, each exercised by
every test that talks to a broker: reads in large chunks, TLS wrapping done by the context
alone, sockets of failed handshakes closed, no Nagle delay on what we send, and MQTT 3.1.1
messages of QoS 0 and 1 handed over as bytes (``on_raw_message``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

# topic, payload, retain: on paho's thread, for each message (``BufferedClient.on_raw_message``)
RawMessage = Callable[[bytes, bytes, bool], None]


class BufferedClient(mqtt.Client):
    """paho's client, reading its socket in large chunks (see the module's notes).

    Relies on two paho 2.x internals, both exercised by every test that talks to a broker:
    ``_sock_recv`` (each read paho makes) and ``loop_read`` (called when select() says the
    socket is readable). Bytes already in memory are invisible to select(), so ``loop_read``
    goes on while any are buffered.
    """

    CHUNK = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chunk = b""
        self._at = 0
        # With TLS 1.3 a broker refuses our certificate after the handshake, in the first
        # read; paho turns that into a bare "connection lost", so the alert is kept here.
        self.tls_failure: ssl.SSLError | None = None
        self.uses_tls = False
        self.answered = False  # a CONNACK came
        self._opened: socket.socket | None = None  # the outermost socket made so far
        self.on_raw_message: RawMessage | None = None
        # The socket may hold more after the last read: it took a whole chunk, or (TLS and
        # WebSockets, whose reads return a record or a frame at a time) it took anything.
        self.filled = False

    def _create_socket_connection(self) -> socket.socket:
        self._opened = super()._create_socket_connection()
        # Small packets go at once: with Nagle a DISCONNECT (or a PUBACK, a command's
        # PUBLISH) after another small packet waits for the broker's delayed ACK, ~40 ms.
        self._opened.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._opened

    def _create_socket(self) -> Any:
        # A TLS or WebSocket handshake that fails leaves paho's socket open: close it.
        try:
            return super()._create_socket()
        except BaseException:
            if self._opened is not None:
                self._opened.close()
            raise

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._at >= len(self._chunk):
            try:
                data = super()._sock_recv(self.CHUNK)  # raises BlockingIOError when empty
            except ssl.SSLError as exc:
                if not isinstance(exc, ssl.SSLWantReadError | ssl.SSLWantWriteError):
                    self.tls_failure = exc
                raise
            except BlockingIOError:
                self.filled = False
                raise
            exact = not self.uses_tls and self._transport == "tcp"
            self.filled = len(data) == self.CHUNK or (bool(data) and not exact)
            if len(data) <= bufsize:  # also b"": the broker closed the connection
                return data
            self._chunk, self._at = data, 0
        start, self._at = self._at, min(self._at + bufsize, len(self._chunk))
        return self._chunk[start:self._at]

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        # paho's own version leaves the socket open when the handshake fails (a certificate
        # refused), and checks the host name a second time with ssl.match_hostname even when
        # the context was told not to (tls_verify_hostname off). The context does it all:
        # it checks the name unless told not to, and the socket is closed on failure.
        context = self._ssl_context
        assert context is not None  # tls_set_context came first
        ssl_sock = context.wrap_socket(tcp_sock, server_hostname=self._host,
                                       do_handshake_on_connect=False)
        self._opened = ssl_sock
        try:
            ssl_sock.settimeout(self._connect_timeout)
            ssl_sock.do_handshake()
        except BaseException:
            ssl_sock.close()
            raise
        return ssl_sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTT_ERR_SUCCESS and self._at < len(self._chunk) and self._sock:
            rc = super().loop_read(1)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        """With ``on_raw_message`` set, an MQTT 3.1.1 PUBLISH of QoS 0 or 1 goes to it as
        bytes: paho's own path (a message object, its topic decoded twice, the callback
        matcher, a debug line formatted) was a fifth of a busy worker. ``on_message`` still
        gets QoS 2 and MQTT 5 (properties) messages, and a malformed packet is paho's to
        refuse. The hook must not raise (an exception here ends paho's loop)."""
        hook, packet = self.on_raw_message, self._in_packet["packet"]
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if hook is None or qos == 2 or self._protocol == mqtt.MQTTv5 or len(packet) < 3:
            return super()._handle_publish()
        end = 2 + (packet[0] << 8 | packet[1])
        body = end + 2 * qos  # QoS 1 carries a packet id after the topic
        if end == 2 or len(packet) < body:
            return super()._handle_publish()
        hook(bytes(packet[2:end]), bytes(packet[body:]), bool(header & 0x01))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(packet[end] << 8 | packet[end + 1])
        return MQTTErrorCode.MQTT_ERR_SUCCESS
