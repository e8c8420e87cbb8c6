"""Time as messages: a clock that tells an actor a message at a due time.

pykka has no timers, and a ``threading.Timer`` per timer costs a thread per timer. The
``Clock`` keeps one heap and one thread for the whole process; at the deadline it
``tell``s the message to its target. The tests' ``FakeClock`` (tests/fake_clock.py) is the
same ``BaseClock`` advanced by hand, so no test sleeps to wait for a timer.

Targets are anything with ``tell(message)``: a pykka ``ActorRef`` in production, or a
small adapter that calls ``on_receive`` directly in deterministic unit tests.
"""

from __future__ import annotations

import abc
import heapq
import itertools
import threading
import time
from typing import Any, Protocol

import msgspec
import structlog

from sitelink.thread_names import name_this_thread

log = structlog.get_logger(__name__)


class Target(Protocol):
    def tell(self, message: Any) -> None: ...


class Timer:
    """A handle to one scheduled delivery. ``cancel()`` is idempotent and thread-safe."""

    __slots__ = ("cancelled", "due", "message", "seq", "target")

    def __init__(self, due: float, seq: int, target: Target, message: Any) -> None:
        self.due = due
        self.seq = seq
        self.target = target
        self.message = message
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class BaseClock(abc.ABC):
    """What actors see: the time now, and ``schedule``."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._lock = threading.Condition()

    @abc.abstractmethod
    def now(self) -> float:
        """Wall-clock Unix seconds (UTC)."""

    @abc.abstractmethod
    def monotonic(self) -> float:
        """Seconds on the clock that deadlines are measured on."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Deliver nothing more (any thread; the owner calls it once, at shutdown)."""

    def schedule(self, delay_s: float, target: Target, message: Any) -> Timer:
        """Tell ``message`` to ``target`` after ``delay_s`` seconds (any thread)."""
        with self._lock:
            timer = Timer(self.monotonic() + max(0.0, delay_s), next(self._seq), target, message)
            heapq.heappush(self._heap, timer)
            self._lock.notify()
        return timer

    def pending(self) -> int:
        with self._lock:
            return sum(1 for t in self._heap if not t.cancelled)

    def _pop_due(self, now: float) -> list[Timer]:
        due: list[Timer] = []
        while self._heap and self._heap[0].due <= now:
            timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                due.append(timer)
        return due

    @staticmethod
    def _deliver(timers: list[Timer]) -> None:
        for timer in timers:
            try:
                timer.target.tell(timer.message)
            except Exception:  # a dead actor must not stop the clock
                log.debug("timer target gone", message=type(timer.message).__name__)


class Clock(BaseClock):
    """The real clock: one daemon thread sleeping on a condition until the next deadline."""

    def __init__(self) -> None:
        super().__init__()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sitelink-clock", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        name_this_thread("clock")
        while True:
            with self._lock:
                while not self._stopped:
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        break
                    timeout = self._heap[0].due - now if self._heap else None
                    self._lock.wait(timeout)
                if self._stopped:
                    return
                due = self._pop_due(time.monotonic())
            self._deliver(due)


class Fired(msgspec.Struct, frozen=True, kw_only=True):
    """A named timer of an actor came due. Stale when ``seq`` is no longer the armed one."""

    timer: str
    seq: int
    event: Any


class Timers:
    """The named timers of one actor, on a shared clock.

    Arming a name again replaces its timer. A ``Fired`` message that was already in the
    mailbox when its timer was cancelled or replaced is recognised as stale by ``take``, so
    an actor never acts on a timer it no longer wants. Used on the owning actor's thread.
    """

    def __init__(self, clock: BaseClock, inbox: Target) -> None:
        self._clock = clock
        self._inbox = inbox
        self._armed: dict[str, tuple[Timer, int]] = {}
        self._seq = 0

    def arm(self, name: str, delay_s: float, event: Any = None) -> None:
        self.cancel(name)
        self._seq += 1
        fired = Fired(timer=name, seq=self._seq, event=event)
        timer = self._clock.schedule(delay_s, self._inbox, fired)
        self._armed[name] = (timer, self._seq)

    def cancel(self, name: str) -> None:
        armed = self._armed.pop(name, None)
        if armed is not None:
            armed[0].cancel()

    def cancel_all(self) -> None:
        for name in list(self._armed):
            self.cancel(name)

    def take(self, fired: Fired) -> bool:
        """True (and disarmed) when ``fired`` is the live timer of its name."""
        armed = self._armed.get(fired.timer)
        if armed is None or armed[1] != fired.seq:
            return False
        del self._armed[fired.timer]
        return True

    def names(self) -> set[str]:
        return set(self._armed)

    def __contains__(self, name: object) -> bool:
        return name in self._armed
