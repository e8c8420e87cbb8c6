"""One alert's lifecycle as a pure transition: no I/O, no clock (``now`` comes in).

::

            Raise(since), held < for_s            Due, held >= for_s
    IDLE ─────────────────────────────► PENDING ─────────────────────► FIRING ─┐
     ▲  ◄─── Clear / Suspend: Discard ─────┘                             │  ▲   │ Due (repeat_s,
     │                                                                   │  └───┘  not acked):
     └──────────────────────── Clear: Resolve ───────────────────────────┘         Renotify

``Raise(since)`` with a condition that has already held for ``for_s`` fires at once (a
restart learns of a silence that began long ago). ``Suspend`` means "cannot know" (the
device's site is down): a pending alert is discarded, a firing one stays as it is. A
pending alert that is discarded never fired, so it is never notified. ``due_at`` says when
the driver must deliver ``Due`` (None: no timer).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class State(StrEnum):
    IDLE = "idle"
    PENDING = "pending"
    FIRING = "firing"


class Raise(msgspec.Struct, frozen=True):
    since: float


class Clear(msgspec.Struct, frozen=True):
    pass


class Suspend(msgspec.Struct, frozen=True):
    pass


class Due(msgspec.Struct, frozen=True):
    pass


class Ack(msgspec.Struct, frozen=True):
    pass


Event = Raise | Clear | Suspend | Due | Ack


class Open(msgspec.Struct, frozen=True):
    """A pending alert begins (the condition holds since ``since``)."""

    since: float


class Fire(msgspec.Struct, frozen=True):
    at: float


class Resolve(msgspec.Struct, frozen=True):
    at: float


class Discard(msgspec.Struct, frozen=True):
    """A pending alert whose condition cleared before ``for_s``: it leaves no trace."""


class Renotify(msgspec.Struct, frozen=True):
    n: int
    at: float


Effect = Open | Fire | Resolve | Discard | Renotify


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    state: State = State.IDLE
    since: float | None = None
    acked: bool = False
    repeats: int = 0
    due_at: float | None = None


class Timing(msgspec.Struct, frozen=True):
    for_s: float
    repeat_s: float


IDLE = Machine()


def _fire(since: float, now: float, t: Timing, opened: bool) -> tuple[Machine, tuple[Effect, ...]]:
    due = now + t.repeat_s if t.repeat_s > 0 else None
    effects: tuple[Effect, ...] = (Fire(now),) if opened else (Open(since), Fire(now))
    return Machine(state=State.FIRING, since=since, due_at=due), effects


def transition(
    m: Machine, event: Event, now: float, t: Timing
) -> tuple[Machine, tuple[Effect, ...]]:
    """The next machine and what to do. Events that change nothing return ``m`` unchanged."""
    match m.state, event:
        case State.IDLE, Raise(since=since):
            since = min(since, now)
            if now - since >= t.for_s:
                return _fire(since, now, t, opened=False)
            return Machine(state=State.PENDING, since=since, due_at=since + t.for_s), (Open(since),)
        case State.PENDING, Clear() | Suspend():
            return IDLE, (Discard(),)
        case State.PENDING, Due():
            # Compared with due_at itself: since + for_s - since may round below for_s.
            assert m.since is not None and m.due_at is not None
            if now >= m.due_at:
                return _fire(m.since, now, t, opened=True)
            return m, ()
        case State.FIRING, Clear():
            return IDLE, (Resolve(now),)
        case State.FIRING, Due():
            if m.acked or t.repeat_s <= 0 or m.due_at is None or now < m.due_at:
                return m, ()
            n = m.repeats + 1
            nxt = msgspec.structs.replace(m, repeats=n, due_at=now + t.repeat_s)
            return nxt, (Renotify(n, now),)
        case State.FIRING, Ack():
            return msgspec.structs.replace(m, acked=True, due_at=None), ()
    return m, ()


def firing(since: float, now: float, t: Timing, *, acked: bool = False,
           repeats: int = 0) -> Machine:
    """A machine for an alert that was already firing when the process started: it is not
    fired again; repeats (if any) continue from now, numbered on from the ``repeats``
    already made (the outbox keeps one notification per number)."""
    due = now + t.repeat_s if t.repeat_s > 0 and not acked else None
    return Machine(state=State.FIRING, since=since, acked=acked, repeats=repeats, due_at=due)
