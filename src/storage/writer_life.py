"""The life of the storage writer's child process, as seen by its parent, as a pure function.

``transition(life, event, policy) -> (life, effects)`` does no I/O and reads no clock;
``RemoteWriter`` (``storage.remote_writer``) feeds it what happens on the event loop and
performs the effects it returns.

::

              Start             Ready
      idle ──────────► starting ──────► up ◄────────────── Ready ──┐
        ▲                 │              │                          │
        │ Gone/StartFailed│              │ Gone                restarting
        └─────────────────┘              ▼                          ▲
                                        lost ───── RestartDue ──────┘
                                         ▲                          │
                                         └── Gone / StartFailed ────┘

   Close: from idle or lost straight to closed; from starting, up or restarting to closing
   (the child is asked to write what it has), and CloseDone takes closing to closed.
   Restarting first reaps the lost child; Reaped then spawns the new one unless a Close came
   meanwhile.

A first child that fails to start is the caller's problem (``start`` raises, nothing is
tried again); a child lost after it was once up is started again after ``restart_delay_s``,
which doubles each time a child is lost before it was ready (at most ``max_delay_s``) and is
back to ``first_delay_s`` once one is. Events that can no longer apply (the socket's end of
file after it was abandoned, a restart timer that fired while closing, a failed start after
the child was already seen gone) are ignored. Anything else the state cannot accept raises
``WriterLifeError`` naming the state and the event.
"""

from __future__ import annotations

import enum

import msgspec

from sitelink.errors import LifecycleError

# A child that is started again: after 1 s, then twice as long each time it dies before it
# was ready, and never more than 30 s (a database that is away for long is retried by the
# child itself, so the cap only bounds how long a crash-looping child stays down).
FIRST_RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0


class State(enum.Enum):
    IDLE = "idle"  # no child yet (or the first one did not start)
    STARTING = "starting"  # the first child runs, not ready yet
    UP = "up"  # a child is ready
    LOST = "lost"  # the child is gone; a restart is scheduled
    RESTARTING = "restarting"  # a new child runs, not ready yet
    CLOSING = "closing"  # the child was asked to write what it has and exit
    CLOSED = "closed"


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    first_delay_s: float = FIRST_RESTART_DELAY_S
    max_delay_s: float = MAX_RESTART_DELAY_S


class Life(msgspec.Struct, frozen=True, kw_only=True):
    state: State = State.IDLE
    restart_delay_s: float = FIRST_RESTART_DELAY_S  # the wait before the next restart


class WriterLifeError(LifecycleError):
    """An event that the writer child's current state does not accept."""


# --- events -------------------------------------------------------------------------------


class Start(msgspec.Struct, frozen=True, kw_only=True):
    """``RemoteWriter.start`` was called."""


class Ready(msgspec.Struct, frozen=True, kw_only=True):
    """The child said it is ready."""


class Gone(msgspec.Struct, frozen=True, kw_only=True):
    """The child's socket closed or failed."""

    why: str


class StartFailed(msgspec.Struct, frozen=True, kw_only=True):
    """The child was not ready in time, or could not be started at all."""


class RestartDue(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Reaped(msgspec.Struct, frozen=True, kw_only=True):
    """The lost child's process has exited (the Reap of a restart is done)."""


class Close(msgspec.Struct, frozen=True, kw_only=True):
    """``RemoteWriter.close`` was called."""


class CloseDone(msgspec.Struct, frozen=True, kw_only=True):
    """The child said it closed, or failed to in time: either way the parent is done."""


WriterEvent = Start | Ready | Gone | StartFailed | RestartDue | Reaped | Close | CloseDone

# --- effects ------------------------------------------------------------------------------


class Spawn(msgspec.Struct, frozen=True, kw_only=True):
    """Start a child and wait for its Ready (``respawn``: a restart, counters carried over)."""

    respawn: bool = False


class MarkUp(msgspec.Struct, frozen=True, kw_only=True):
    """The child is ready: let the callers in."""


class Fail(msgspec.Struct, frozen=True, kw_only=True):
    """Count what could not be sent as dropped and fail whoever waits for an answer."""

    why: str


class Abandon(msgspec.Struct, frozen=True, kw_only=True):
    """Stop reading and writing the child's socket and close it."""


class ScheduleRestart(msgspec.Struct, frozen=True, kw_only=True):
    delay_s: float
    why: str


class CancelRestart(msgspec.Struct, frozen=True, kw_only=True):
    pass


class SendClose(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Reap(msgspec.Struct, frozen=True, kw_only=True):
    """Wait for the child process to exit (kill it if it does not)."""


Effect = Spawn | MarkUp | Fail | Abandon | ScheduleRestart | CancelRestart | SendClose | Reap

_WITH_CHILD = (State.STARTING, State.UP, State.RESTARTING)


def transition(
    life: Life, event: WriterEvent, policy: RestartPolicy
) -> tuple[Life, list[Effect]]:
    """The next state and what to do about it."""
    s = life.state
    match event:
        case Start() if s is State.IDLE:
            return _to(life, State.STARTING), [Spawn()]
        case Ready() if s in (State.STARTING, State.RESTARTING):
            return Life(state=State.UP, restart_delay_s=policy.first_delay_s), [MarkUp()]
        case Ready() if s is State.CLOSING:
            return life, [MarkUp()]  # ready as it was asked to close: it closes all the same
        case Gone(why=why) if s is State.STARTING:
            return _to(life, State.IDLE), [Fail(why=why), Abandon()]
        case Gone(why=why) if s in (State.UP, State.RESTARTING):
            return _lost(life, policy), [Fail(why=why), Abandon(),
                                         ScheduleRestart(delay_s=life.restart_delay_s, why=why)]
        case Gone(why=why) if s is State.CLOSING:
            return life, [Fail(why=why), Abandon()]
        case Gone() if s in (State.IDLE, State.LOST, State.CLOSED):
            return life, []  # no socket any more: the news is stale
        case StartFailed() if s is State.STARTING:
            return _to(life, State.IDLE), [Abandon()]
        case StartFailed() if s is State.RESTARTING:
            return _lost(life, policy), [
                Abandon(), ScheduleRestart(delay_s=life.restart_delay_s, why="it did not start")]
        case StartFailed() if s in (State.IDLE, State.LOST, State.CLOSING, State.CLOSED):
            return life, []  # seen gone already (a restart is scheduled) or being closed
        case RestartDue() if s is State.LOST:
            return _to(life, State.RESTARTING), [Reap()]
        case RestartDue() if s in (State.CLOSING, State.CLOSED):
            return life, []  # the timer fired as it was being cancelled
        case Reaped() if s is State.RESTARTING:
            return life, [Spawn(respawn=True)]
        case Reaped() if s in (State.CLOSING, State.CLOSED):
            return life, []  # closed while the last child was reaped: no new one
        case Close() if s in (State.IDLE, State.LOST):
            return _to(life, State.CLOSED), [CancelRestart(), Reap()]
        case Close() if s in _WITH_CHILD:
            return _to(life, State.CLOSING), [SendClose()]
        case Close() if s is State.CLOSED:
            return life, [Reap()]
        case CloseDone() if s is State.CLOSING:
            return _to(life, State.CLOSED), [Abandon(), Reap()]
    raise WriterLifeError(s, event)


def _to(life: Life, state: State) -> Life:
    return msgspec.structs.replace(life, state=state)


def _lost(life: Life, policy: RestartPolicy) -> Life:
    return Life(state=State.LOST,
                restart_delay_s=min(2 * life.restart_delay_s, policy.max_delay_s))
