"""Actors that take turns on one thread: ``SharedThreadActor``.

pykka's ``ThreadingActor`` gives every actor a thread of its own. A site worker hosts
hundreds of sites, and at idle each heartbeat woke a different one of their threads, cold:
the site's work on a message cost ~8 times more than the same work busy (bench/PROPOSALS.md,
"what a site actor spends at idle"). Here all the actors of a class share one thread per
process (``ActorThread``), which takes them in turn, a burst of messages each.

What stays as with pykka's threads:

* an actor sees one message at a time, in the order it was told, and owns its state
  (DESIGN.md, rule 1); ``tell``, ``ask``, ``stop`` and the registry work as before;
* ``on_start`` runs on the thread before the first message, ``on_stop`` at the stop,
  ``on_failure`` after a ``tell`` handler raised; an ``ask`` that raised gets the exception;
* each actor has its own ``contextvars`` context (structlog's bound ``site``), as a thread has;
* the process does not exit while an actor is alive: the thread is not a daemon, and ends
  when its last actor has stopped (the next start makes a new one).

What changes: an actor must never block, or its neighbours wait with it. Site actors do not
(the port's blocking connect runs on paho's thread); the one wait they have, a goodbye's
``GOODBYE_WAIT_S`` for paho to have sent DISCONNECT, is a millisecond on a live link.
"""

from __future__ import annotations

import contextvars
import queue
import sys
import threading
from collections import deque
from typing import Any, ClassVar, cast

import pykka
from pykka import messages

from sitelink.thread_names import name_this_thread

BURST = 64  # an actor's messages handled in one turn before the next actor's


class _Begin:
    """Put first in a new actor's inbox: run ``on_start``."""


_BEGIN = _Begin()


class ActorThread:
    """One thread that runs the messages of many actors, each actor's in order.

    With a ``window_s``, the thread rests that long after each round of turns unless an
    urgent message comes: what the lazy messages (the class's ``lazy``) bring in the
    meantime waits for the next round instead of waking the thread one message at a time.
    A message to a resting-idle thread wakes it at once."""

    def __init__(self, name: str, window_s: float) -> None:
        self.name = name
        self.window_s = window_s
        self._ready: queue.SimpleQueue[SharedThreadActor] = queue.SimpleQueue()
        self._urgent = threading.Event()
        self._lock = threading.Lock()
        self._live = 0  # actors started and not yet stopped
        self._queued = 0  # actors in _ready
        self._thread: threading.Thread | None = None

    def attach(self) -> None:
        with self._lock:
            self._live += 1
            self._ensure_running()

    def detach(self) -> None:
        with self._lock:
            self._live -= 1

    def schedule(self, actor: SharedThreadActor, urgent: bool) -> None:
        with self._lock:
            self._queued += 1
            self._ensure_running()
        self._ready.put(actor)
        if urgent:
            self.hurry()

    def hurry(self) -> None:
        """End the thread's rest now: an urgent message is in line."""
        if self.window_s:
            self._urgent.set()

    def _ensure_running(self) -> None:  # under _lock
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name)
            self._thread.start()

    def _run(self) -> None:
        name_this_thread(self.name)
        while True:
            actor = self._ready.get()  # idle: the first message wakes the thread at once
            self._urgent.clear()
            while True:  # a round: every actor in line takes its turn
                actor.take_turn()
                with self._lock:
                    self._queued -= 1
                    if self._live == 0 and self._queued == 0:
                        self._thread = None
                        return
                try:
                    actor = self._ready.get_nowait()
                except queue.Empty:
                    break
            if self.window_s:
                self._urgent.wait(self.window_s)


class _Inbox:
    """An actor's queue; the first message into an empty one puts the actor in line."""

    def __init__(self) -> None:
        self.items: deque[Any] = deque([_BEGIN])
        self.lock = threading.Lock()
        self.in_line = False
        self.owner: SharedThreadActor | None = None  # set at its start, with its thread

    def put(self, envelope: Any, /) -> None:
        owner = self.owner
        with self.lock:
            self.items.append(envelope)
            if owner is None:
                return  # not started yet: the start puts it in line
            was_in_line, self.in_line = self.in_line, True
        urgent = type(envelope.message) not in owner.lazy
        if not was_in_line:
            owner.thread.schedule(owner, urgent)
        elif urgent:
            owner.thread.hurry()

    def get(self) -> Any:
        with self.lock:
            return self.items.popleft()

    def empty(self) -> bool:
        return not self.items

    def qsize(self) -> int:  # the actor tree's and /metrics' mailbox size, as queue.Queue's
        return len(self.items)


class SharedThreadActor(pykka.Actor):
    """A pykka actor run on its class's ``ActorThread`` (see the module's notes)."""

    thread_name: ClassVar[str] = "actors"
    window_s: ClassVar[float] = 0.0  # the thread's rest between rounds (``ActorThread``)
    lazy: ClassVar[tuple[type, ...]] = ()  # messages that wait for the rest to end
    _threads: ClassVar[dict[str, ActorThread]] = {}
    _threads_lock: ClassVar[threading.Lock] = threading.Lock()
    thread: ActorThread  # this actor's, kept from its start (``actor_thread``)

    @classmethod
    def actor_thread(cls) -> ActorThread:
        with cls._threads_lock:
            thread = cls._threads.get(cls.thread_name)
            if thread is None:
                thread = ActorThread(cls.thread_name, cls.window_s)
                cls._threads[cls.thread_name] = thread
            return thread

    @staticmethod
    def _create_actor_inbox() -> _Inbox:
        return _Inbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self._context = contextvars.Context()  # as a new thread's: empty
        self._attached = True
        inbox = cast(_Inbox, self.actor_inbox)
        self.thread = self.actor_thread()  # once: not a registry lookup per message
        self.thread.attach()
        with inbox.lock:
            inbox.owner, inbox.in_line = self, True
        self.thread.schedule(self, urgent=True)

    # --- on the actor thread -------------------------------------------------------------------

    def take_turn(self) -> None:
        inbox = cast(_Inbox, self.actor_inbox)
        for _ in range(BURST):
            with inbox.lock:
                if not inbox.items:
                    inbox.in_line = False
                    return
                item = inbox.items.popleft()
            if self.actor_stopped.is_set():
                _refuse(self, item)
            elif item is _BEGIN:
                self._context.run(self._actor_loop_setup)
            else:
                self._context.run(self._handle, item)
            if self.actor_stopped.is_set() and self._attached:
                self._attached = False
                self.thread.detach()
        with inbox.lock:  # a long inbox: back in line, behind the others
            if not inbox.items:
                inbox.in_line = False
                return
        self.thread.schedule(self, urgent=False)

    def _handle(self, envelope: Any) -> None:
        try:
            response = self._handle_receive(envelope.message)
        except Exception:
            if envelope.reply_to is not None:  # the asker gets the exception
                envelope.reply_to.set_exception()
                return
            info = sys.exc_info()
            self._handle_failure(*info)
            try:
                self.on_failure(*info)
            except Exception:
                self._handle_failure(*sys.exc_info())
        else:
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)


def _refuse(actor: pykka.Actor, item: Any) -> None:
    """A message that found its actor stopped: a stop is answered, an ask fails."""
    if item is _BEGIN or item.reply_to is None:
        return
    if isinstance(item.message, messages._ActorStop):
        item.reply_to.set(None)
        return
    dead = pykka.ActorDeadError(f"{actor.actor_ref} stopped before handling the message")
    item.reply_to.set_exception(exc_info=(pykka.ActorDeadError, dead, None))
