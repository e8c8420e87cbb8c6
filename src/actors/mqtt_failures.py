"""Words for MQTT failures: why a connection could not be made or was lost, and which
filters a SUBACK refused.

``describe_failure`` is the one translator of paho's reason codes, socket, TLS and
WebSocket errors into the sentences shown as a site's ``error_message``. Pure functions,
called by ``mqtt_port`` on paho's thread or the owner's.
"""

from __future__ import annotations

import socket
import ssl

from paho.mqtt.client import WebsocketConnectionError as _WebsocketError
from paho.mqtt.reasoncodes import ReasonCode

from sitelink.actors.mqtt_tls import ClientCertificateInvalid


def describe_failure(error: BaseException | ReasonCode | int | str) -> str:
    """Words for why a connection could not be made or was lost (the only translator).

    TLS failures say which side refused: "TLS certificate rejected" is sitelink refusing the
    broker's certificate (with OpenSSL's reason: expired, unknown CA, wrong host name);
    "TLS handshake refused by the broker" is the broker refusing ours, from the alert it
    sent (our certificate expired, unknown to its CA, missing, ...)."""
    if isinstance(error, ReasonCode):
        return f"Connection refused: {_REFUSALS.get(error.value, str(error).lower())}"
    if isinstance(error, socket.gaierror):
        return f"Cannot resolve broker host: {error.strerror or error}"
    if isinstance(error, ConnectionRefusedError):
        return "Connection refused by broker host (nothing listening on that port)"
    if isinstance(error, TimeoutError | socket.timeout):
        return "Timed out connecting to broker"
    if isinstance(error, ssl.SSLCertVerificationError):
        why = error.verify_message or error
        return f"TLS certificate rejected: sitelink refused the broker's certificate: {why}"
    if isinstance(error, ssl.SSLError):
        reason = getattr(error, "reason", None)  # an SSLError made by hand has none
        refusal = _TLS_ALERTS.get(str(reason or ""))
        if refusal is not None:
            return f"TLS handshake refused by the broker: {refusal}"
        if isinstance(error, ssl.SSLEOFError):
            # Mosquitto under TLS 1.3 closes without an alert when it refuses our certificate
            # (or gets none): the closing is all there is to go on.
            return ("TLS handshake refused by the broker: it closed the connection before "
                    "answering (it requires a client certificate it accepts)")
        return f"TLS error: {reason or error}"
    if isinstance(error, ClientCertificateInvalid):
        return str(error)
    if isinstance(error, _WebsocketError):
        return f"WebSocket handshake failed: {error}"
    if isinstance(error, OSError):
        return f"Network error: {error.strerror or error}"
    return str(error)


def refused_filters(filters: list[str], codes: list[ReasonCode]) -> str:
    """The filters a SUBACK refused, with the broker's reason, or empty."""
    pairs = zip(filters, codes, strict=False)
    return ", ".join(f"{f} ({str(c).lower()})" for f, c in pairs if c.is_failure)


# OpenSSL's names for the alert a TLS server sends when it refuses the client's side.
_TLS_ALERTS = {
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "our client certificate has expired",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "it requires a client certificate and we sent none",
    "SSLV3_ALERT_BAD_CERTIFICATE": "it does not accept our client certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "it does not accept our client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "our client certificate is not signed by a CA it trusts",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "our client certificate is revoked",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "no protocol version or cipher in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
}

_REFUSALS = {
    132: "unsupported protocol version",
    133: "client identifier not valid",
    134: "bad user name or password",
    135: "not authorised",
    136: "server unavailable",
    137: "server busy",
    138: "banned",
    140: "bad authentication method",
}
