"""The rules of a site: one set of validators for every place a site is written or read.

The HTTP API (request bodies), the CLI (``sitelink sites add``), bulk import and the
supervisor (rows already stored, perhaps by an older version or a hand edit) all check a
site here, so a value refused in one place is refused in every place, with the same words.

Constraints live in the types (msgspec ``Meta``), so the OpenAPI schema shows the same
limits. A broken rule is a ``ValidationError`` whose text names the field first:
``"broker_port: Expected `int` <= 65535"``. A stored row is described as
``"invalid code 'bad code': Expected `str` matching regex '^[A-Za-z0-9_-]{1,64}$'"``.

Pure code, no I/O: safe on any thread.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from sitelink.errors import ValidationError
from sitelink.tls_pem import check_ca, check_client_pair

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Code = Annotated[str, Meta(pattern=CODE_PATTERN, description="topic prefix")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Host = Annotated[str, Meta(min_length=1, max_length=255, pattern=r"^[^\s/]+$")]
Port = Annotated[int, Meta(ge=1, le=65535)]
Prefix = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{0,64}$")]
Keepalive = Annotated[int, Meta(ge=5, le=65535)]
OfflineAfter = Annotated[int, Meta(ge=5, le=30 * 86_400)]
Username = Annotated[str, Meta(max_length=255)]
Secret = Annotated[str, Meta(max_length=1024)]
Pem = Annotated[str, Meta(max_length=65_536)]
Protocol = Literal["3.1.1", "5"]
Transport = Literal["tcp", "websockets"]
WsPath = Annotated[str, Meta(pattern=r"^/[^\s?#]{0,254}$")]
LabelKey = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
LabelValue = Annotated[str, Meta(max_length=200)]
Labels = Annotated[dict[LabelKey, LabelValue], Meta(max_length=32)]

DEFAULT_PORT = 1883
SECRET_FIELDS = frozenset({"password", "tls_client_key_pem"})

S = TypeVar("S", bound=msgspec.Struct)


def _without_secrets(struct: msgspec.Struct) -> list[tuple[str, Any]]:
    """Fields for ``repr`` and rich's pretty printer (tracebacks that show locals): a
    password is shown only as set or not."""
    return [
        (name, "***" if name in SECRET_FIELDS and value else value)
        for name in struct.__struct_fields__
        if (value := getattr(struct, name)) is not UNSET
    ]


def _repr(struct: msgspec.Struct) -> str:
    fields = ", ".join(f"{name}={value!r}" for name, value in _without_secrets(struct))
    return f"{type(struct).__name__}({fields})"


class SiteCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new site, as the API, the CLI and import take it."""

    name: Name
    code: Code
    broker_host: Host
    broker_port: Port = DEFAULT_PORT
    username: Username = ""
    password: Secret | None = None
    client_id_prefix: Prefix = ""
    protocol: Protocol = "3.1.1"
    keepalive_s: Keepalive | None = None  # None: MQTT_KEEP_ALIVE
    tls: bool = False
    tls_ca_pem: Pem | None = None
    tls_client_cert_pem: Pem | None = None
    tls_client_key_pem: Pem | None = None  # write-only, encrypted at rest
    tls_verify_hostname: bool = True
    transport: Transport = "tcp"
    ws_path: WsPath = "/mqtt"
    offline_after_s: OfflineAfter = 180
    labels: Labels = msgspec.field(default_factory=dict)
    is_enabled: bool = False

    def __repr__(self) -> str:
        return _repr(self)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return _without_secrets(self)


class SiteUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fields of a site to change; ``UNSET`` leaves one as it is."""

    name: Name | UnsetType = UNSET
    code: Code | UnsetType = UNSET
    broker_host: Host | UnsetType = UNSET
    broker_port: Port | UnsetType = UNSET
    username: Username | UnsetType = UNSET
    password: Secret | UnsetType | None = UNSET
    client_id_prefix: Prefix | UnsetType = UNSET
    protocol: Protocol | UnsetType = UNSET
    keepalive_s: Keepalive | UnsetType = UNSET
    tls: bool | UnsetType = UNSET
    tls_ca_pem: Pem | UnsetType | None = UNSET
    tls_client_cert_pem: Pem | UnsetType | None = UNSET
    tls_client_key_pem: Pem | UnsetType | None = UNSET
    tls_verify_hostname: bool | UnsetType = UNSET
    transport: Transport | UnsetType = UNSET
    ws_path: WsPath | UnsetType = UNSET
    offline_after_s: OfflineAfter | UnsetType = UNSET
    labels: Labels | UnsetType = UNSET
    is_enabled: bool | UnsetType = UNSET

    def __repr__(self) -> str:
        return _repr(self)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return _without_secrets(self)


# --- messages -------------------------------------------------------------------------------

_AT = re.compile(r"\s*-\s*at `\$\.?([^`]*)`")
_NAMED = re.compile(r"^Object (contains unknown|missing required) field `(.*)`$", re.S)


def field_message(message: str, key: str | None = None) -> tuple[str, str]:
    """``(field, problem)`` from a msgspec message such as "Expected `int`, got `str` - at
    `$.broker_port`". For an unknown or missing field msgspec names it inside the text.
    ``key`` (when the caller knows the field) wins over the path in the text."""
    named = _NAMED.search(_AT.sub("", message).strip())  # a name may hold a backtick
    if named:
        problem = "unknown field" if named.group(1) == "contains unknown" else "required"
        return named.group(2), problem
    found = _AT.search(message)
    field = key or (found.group(1) if found else "")
    return field, _AT.sub("", message).strip()


def field_text(message: str, key: str | None = None) -> str:
    """The words shown to a user: ``"broker_port: Expected `int` <= 65535"``."""
    field, problem = field_message(message, key)
    return f"{field}: {problem}" if field else problem


def _convert(fields: Mapping[str, Any], kind: type[S]) -> S:
    try:
        return msgspec.convert(dict(fields), kind)
    except msgspec.ValidationError as exc:
        field, problem = field_message(str(exc))
        raise ValidationError(field or "site", problem) from None


def check_new_site(fields: Mapping[str, Any]) -> SiteCreate:
    """A ``SiteCreate`` from plain fields, or ``ValidationError`` naming the first bad one."""
    site = _convert(fields, SiteCreate)
    check_certificates(site)
    return site


def check_site_update(fields: Mapping[str, Any]) -> SiteUpdate:
    """A ``SiteUpdate`` from plain fields, or ``ValidationError`` naming the first bad one."""
    site = _convert(fields, SiteUpdate)
    check_certificates(site)
    return site


def check_certificates(site: SiteCreate | SiteUpdate) -> None:
    """The PEM fields parse, and the client key belongs to the client certificate
    (``sitelink.tls_pem``). An update changes the certificate and the key together (both,
    or both cleared with null): the stored key is never read back to compare."""
    ca = site.tls_ca_pem
    if isinstance(ca, str) and ca:
        check_ca("tls_ca_pem", ca)
    cert, key = site.tls_client_cert_pem, site.tls_client_key_pem
    if cert is UNSET and key is UNSET:
        return
    if cert is UNSET or key is UNSET:
        missing = "tls_client_key_pem" if key is UNSET else "tls_client_cert_pem"
        raise ValidationError(missing, "change tls_client_cert_pem and tls_client_key_pem "
                                       "together")
    check_client_pair(cert or None, key or None)


def parse_broker(text: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` → (host, port); the port defaults to
    1883. Raises ``ValidationError("broker", ...)`` when the port is not a number; the range
    and the host are checked by ``check_new_site`` (as ``broker_port`` / ``broker_host``)."""
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValidationError("broker", f"missing ']' in {text!r}")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValidationError("broker", f"expected HOST[:PORT], got {text!r}")
        port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port:
        return host, DEFAULT_PORT
    if not port.isascii() or not port.isdigit():
        raise ValidationError("broker", f"port must be a number, got {port!r} in {text!r}")
    return host, int(port)


# --- rows already stored ----------------------------------------------------------------------

def stored_site_problem(row: Mapping[str, Any]) -> str | None:
    """None if a stored site row keeps every rule, else one line naming the field and its
    value: ``"invalid code 'bad code': Expected `str` matching regex ..."``. Secrets are
    checked but never shown."""
    fields = {name: row[name] for name in SiteCreate.__struct_fields__ if name in row}
    if isinstance(fields.get("labels"), str):  # stored as JSON text
        # Text that is not JSON stays text: reported as an invalid labels field below.
        with contextlib.suppress(msgspec.DecodeError):
            fields["labels"] = msgspec.json.decode(fields["labels"])
    try:
        msgspec.convert(fields, SiteCreate)
    except msgspec.ValidationError as exc:
        field, problem = field_message(str(exc))
        value = fields.get(field)
        shown = "(hidden)" if field in SECRET_FIELDS else _short(value)
        return f"invalid {field or 'site'} {shown}: {problem}"
    return None


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "CODE_PATTERN",
    "Code",
    "Host",
    "Keepalive",
    "Labels",
    "Name",
    "OfflineAfter",
    "Pem",
    "Port",
    "Prefix",
    "Protocol",
    "Secret",
    "SiteCreate",
    "SiteUpdate",
    "Transport",
    "Username",
    "WsPath",
    "check_certificates",
    "check_new_site",
    "check_site_update",
    "field_message",
    "field_text",
    "parse_broker",
    "stored_site_problem",
]
