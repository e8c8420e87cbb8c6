"""The connection lifecycle of one site, as a pure function.

``transition(conn, event, now, policy) -> (conn, effects)`` does no I/O, reads no clock
and draws no random numbers: the time comes in as ``now`` and the random part of a retry
delay as the event's ``u``. The SiteActor performs the effects.

::

                 Start                 Connected → Subscribe        Subscribed
   disconnected ───────► connecting ─────────────────────► (acked) ─────────► connected
        ▲                 │   ▲                                                  │
        │ Stopped         │   │ RetryDue / Reconnect                 ConnectionLost
     disabled ◄── Stop ───┤   │                                                  │
                          ▼   │                                                  ▼
                         error ◄─────────── ConnectFailed / ConnectTimedOut ──────┘

Timer events (RetryDue, ConnectTimedOut, Stable) that arrive in a state where they no longer
apply are stale (their timer was cancelled while the message was in flight) and are ignored.
So are port events in a state that has no attempt in flight. An operator command that the
state cannot accept (Reconnect on a stopped site) raises ``LifecycleError``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from sitelink.actors.backoff import RetryPolicy, retry_delay
from sitelink.errors import LifecycleError
from sitelink.events import ConnectionEventKind, ConnectionStatus

TAKEOVER_WINDOW_S = 60.0
TAKEOVER_LIMIT = 3


State = ConnectionStatus  # the lifecycle's states are the statuses the world is told


class Conn(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the lifecycle knows about one connection."""

    state: State = State.DISCONNECTED
    enabled: bool = False
    acked: bool = False  # CONNACK seen in this attempt, SUBACK not yet
    retry_count: int = 0  # consecutive failures since the link was last stable
    error_message: str = ""
    next_retry_at: float | None = None
    connected_at: float | None = None
    takeovers: tuple[float, ...] = ()


# --- events -------------------------------------------------------------------------------


class Start(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Stop(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Reconnect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ConfigChanged(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Connected(msgspec.Struct, frozen=True, kw_only=True):
    """CONNACK accepted."""


class Subscribed(msgspec.Struct, frozen=True, kw_only=True):
    """Every SUBACK granted."""


class ConnectFailed(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    u: float = 0.5


class ConnectionLost(msgspec.Struct, frozen=True, kw_only=True):
    """The link dropped. ``takeover_confirmed``: the broker said another client took our
    session over (MQTT 5 reason 142); ``client_id`` names ours, for the conflict message."""

    reason: str
    takeover_confirmed: bool = False
    u: float = 0.5
    client_id: str = ""


class ConnectTimedOut(msgspec.Struct, frozen=True, kw_only=True):
    u: float = 0.5


class RetryDue(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Stable(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Stopped(msgspec.Struct, frozen=True, kw_only=True):
    """The disconnect asked for by Stop has finished."""


LifecycleEvent = (
    Start
    | Stop
    | Reconnect
    | ConfigChanged
    | Connected
    | Subscribed
    | ConnectFailed
    | ConnectionLost
    | ConnectTimedOut
    | RetryDue
    | Stable
    | Stopped
)

# --- effects ------------------------------------------------------------------------------

RETRY = "retry"
CONNECT_TIMEOUT = "connect_timeout"
STABLE = "stable"


class Connect(msgspec.Struct, frozen=True, kw_only=True):
    """Start a connect attempt (the actor arms the connect timeout when it really starts)."""


class Disconnect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Subscribe(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    timer: str
    delay_s: float
    event: LifecycleEvent


class Cancel(msgspec.Struct, frozen=True, kw_only=True):
    timer: str


class Emit(msgspec.Struct, frozen=True, kw_only=True):
    """The status changed: tell the world."""


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """A row for the connection history: connected, lost, failed or stopped."""

    kind: ConnectionEventKind
    reason: str


Effect = Connect | Disconnect | Subscribe | Schedule | Cancel | Emit | Record

ALL_TIMERS = (Cancel(timer=RETRY), Cancel(timer=CONNECT_TIMEOUT), Cancel(timer=STABLE))


def transition(
    conn: Conn, event: LifecycleEvent, now: float, policy: RetryPolicy
) -> tuple[Conn, list[Effect]]:
    """The next state and what to do about it."""
    s = conn.state
    match event:
        case Start():
            if s in (State.DISCONNECTED, State.ERROR, State.DISABLED):
                return _attempt(msgspec.structs.replace(conn, enabled=True))
            return conn, []  # already on its way up
        case Stop():
            if s is State.DISCONNECTED and not conn.enabled:
                return conn, []
            stopped = msgspec.structs.replace(
                conn, enabled=False, acked=False, next_retry_at=None, error_message=""
            )
            if s in (State.CONNECTING, State.CONNECTED):
                return (
                    msgspec.structs.replace(stopped, state=State.DISABLED),
                    [*ALL_TIMERS, Disconnect(), Emit()],
                )
            down = msgspec.structs.replace(stopped, state=State.DISCONNECTED)
            stopped_row = Record(kind="stopped", reason="Stopped")
            return down, [*ALL_TIMERS, Disconnect(), stopped_row, Emit()]
        case Reconnect() | ConfigChanged():
            if not conn.enabled:
                if isinstance(event, ConfigChanged):
                    return conn, []
                raise LifecycleError(s, event)
            effects: list[Effect] = [*ALL_TIMERS]
            if s in (State.CONNECTING, State.CONNECTED):
                effects.append(Disconnect())
            up, more = _attempt(conn)
            return up, effects + more
        case Connected():
            if s is State.CONNECTING and not conn.acked:
                return msgspec.structs.replace(conn, acked=True), [Subscribe()]
            return conn, []
        case Subscribed():
            if s is State.CONNECTING and conn.acked:
                up = msgspec.structs.replace(
                    conn,
                    state=State.CONNECTED,
                    acked=False,
                    error_message="",
                    next_retry_at=None,
                    connected_at=now,
                )
                return up, [
                    Cancel(timer=CONNECT_TIMEOUT),
                    Schedule(timer=STABLE, delay_s=policy.reset_s, event=Stable()),
                    Record(kind="connected", reason=""),
                    Emit(),
                ]
            return conn, []
        case ConnectFailed(reason=reason, u=u):
            if s is State.CONNECTING:
                return _fail(conn, reason=reason, kind="failed", now=now, policy=policy, u=u)
            return conn, []
        case ConnectTimedOut(u=u):
            if s is State.CONNECTING:
                waited = "SUBACK" if conn.acked else "CONNACK"
                return _fail(conn, reason=f"Timed out waiting for {waited}", kind="failed",
                             now=now, policy=policy, u=u)
            return conn, []
        case ConnectionLost(reason=reason, takeover_confirmed=confirmed, u=u):
            if s is State.CONNECTING:
                return _fail(conn, reason=reason, kind="failed", now=now, policy=policy, u=u)
            if s is State.CONNECTED:
                # Not every broker says "session taken over" (mosquitto 2.0 closes the socket,
                # and MQTT 3.1.1 has no way to say it). The signature of two clients fighting
                # over one client id is the same either way: a link that connects fine and
                # drops again before it was stable. Three of those within a minute → conflict.
                early = conn.connected_at is not None and now - conn.connected_at < policy.reset_s
                if confirmed or early:
                    recent = tuple(t for t in conn.takeovers if now - t < TAKEOVER_WINDOW_S)
                    conn = msgspec.structs.replace(conn, takeovers=(*recent, now))
                return _fail(conn, reason=reason, kind="lost", now=now, policy=policy, u=u,
                             client_id=event.client_id, takeover_confirmed=confirmed)
            if s is State.DISABLED:
                return _stopped(conn)
            return conn, []
        case Stopped():
            if s is State.DISABLED:
                return _stopped(conn)
            return conn, []
        case RetryDue():
            if s is State.ERROR and conn.enabled:
                return _attempt(conn)
            return conn, []
        case Stable():
            if s is State.CONNECTED and conn.retry_count:
                return msgspec.structs.replace(conn, retry_count=0, takeovers=()), [Emit()]
            return conn, []
    raise LifecycleError(s, event)  # pragma: no cover - the match is exhaustive


def _attempt(conn: Conn) -> tuple[Conn, list[Effect]]:
    up = msgspec.structs.replace(
        conn, state=State.CONNECTING, acked=False, next_retry_at=None
    )
    return up, [Cancel(timer=RETRY), Connect(), Emit()]


def _fail(
    conn: Conn,
    *,
    reason: str,
    kind: Literal["failed", "lost"],
    now: float,
    policy: RetryPolicy,
    u: float,
    client_id: str = "",
    takeover_confirmed: bool = False,
) -> tuple[Conn, list[Effect]]:
    """The attempt failed or the link was lost: error, with the retry scheduled. With three
    takeovers (confirmed or probable) within a minute the message names the conflict."""
    delay = retry_delay(conn.retry_count, policy, u)
    recent = [t for t in conn.takeovers if now - t < TAKEOVER_WINDOW_S]
    if len(recent) >= TAKEOVER_LIMIT:
        whose = f"client id {client_id!r}" if client_id else "the same client id"
        how = "took over" if takeover_confirmed else "probably took over"
        reason = (
            f"Client id conflict: another client with {whose} {how} this connection "
            f"{len(recent)} times within a minute ({reason})"
        )
    failed = msgspec.structs.replace(
        conn,
        state=State.ERROR,
        acked=False,
        retry_count=conn.retry_count + 1,
        error_message=reason,
        next_retry_at=now + delay,
    )
    return failed, [
        Cancel(timer=CONNECT_TIMEOUT),
        Cancel(timer=STABLE),
        Disconnect(),
        Record(kind=kind, reason=reason),
        Schedule(timer=RETRY, delay_s=delay, event=RetryDue()),
        Emit(),
    ]


def _stopped(conn: Conn) -> tuple[Conn, list[Effect]]:
    down = msgspec.structs.replace(conn, state=State.DISCONNECTED, acked=False)
    return down, [Record(kind="stopped", reason="Stopped"), Emit()]
