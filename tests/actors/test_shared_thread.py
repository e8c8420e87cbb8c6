"""Actors that take turns on one thread (``sitelink.actors.shared_thread``): what pykka's
own threads guarantee still holds, with every actor of the class on one thread."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import pykka
import pytest

from sitelink.actors.shared_thread import BURST, SharedThreadActor

NAME: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="")


class Recorder(SharedThreadActor):
    thread_name = "test-shared"

    def __init__(self, name: str, log: list[tuple[str, Any]], gate: threading.Event | None = None,
                 fail_on_start: bool = False) -> None:
        super().__init__()
        self.name, self.log, self.gate, self.fail_on_start = name, log, gate, fail_on_start

    def on_start(self) -> None:
        self.log.append((self.name, "start"))
        NAME.set(self.name)
        if self.fail_on_start:
            raise RuntimeError("cannot start")

    def on_stop(self) -> None:
        self.log.append((self.name, "stop"))

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.log.append((self.name, f"failure: {exception_value}"))

    def on_receive(self, message: Any) -> Any:
        match message:
            case "wait":
                assert self.gate is not None
                self.gate.wait(10)
            case "thread":
                return threading.current_thread()
            case "context":
                return NAME.get()
            case "raise":
                raise ValueError("bad message")
        self.log.append((self.name, message))
        return message


@pytest.fixture
def log() -> list[tuple[str, Any]]:
    return []


def test_messages_come_in_order_after_on_start_and_asks_are_answered(log: list[Any]) -> None:
    ref = Recorder.start("a", log)
    for i in range(5):
        ref.tell(i)
    assert ref.ask("last", timeout=5) == "last"
    ref.stop(block=True, timeout=5)
    assert log == [("a", "start"), *(("a", i) for i in range(5)), ("a", "last"), ("a", "stop")]


def test_every_actor_of_the_class_runs_on_one_thread_each_in_its_own_context(
    log: list[Any],
) -> None:
    refs = [Recorder.start(name, log) for name in ("a", "b", "c")]
    try:
        threads = {ref.ask("thread", timeout=5) for ref in refs}
        assert len(threads) == 1
        assert threads.pop() is not threading.current_thread()
        assert [ref.ask("context", timeout=5) for ref in refs] == ["a", "b", "c"]
        assert NAME.get() == ""
    finally:
        for ref in refs:
            ref.stop(block=True, timeout=5)


def test_a_failing_tell_stops_that_actor_only_and_an_ask_gets_its_exception(
    log: list[Any],
) -> None:
    a, b = Recorder.start("a", log), Recorder.start("b", log)
    with pytest.raises(ValueError, match="bad message"):
        a.ask("raise", timeout=5)
    assert a.is_alive()  # an ask's exception is the asker's, not the actor's
    a.tell("raise")
    with pytest.raises(pykka.ActorDeadError):
        a.ask("after", timeout=5)
    assert not a.is_alive()
    assert ("a", "failure: bad message") in log
    assert b.ask("still here", timeout=5) == "still here"
    b.stop(block=True, timeout=5)


def test_an_actor_that_fails_to_start_handles_nothing(log: list[Any]) -> None:
    ref = Recorder.start("a", log, fail_on_start=True)
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("hello", timeout=5)
    assert log == [("a", "start")]


def test_a_long_inbox_lets_the_others_take_their_turn(log: list[Any]) -> None:
    gate = threading.Event()
    a, b = Recorder.start("a", log, gate), Recorder.start("b", log)
    try:
        a.tell("wait")  # holds the thread while both inboxes fill
        for i in range(3 * BURST):
            a.tell(i)
        b.tell("b's only")
        gate.set()
        a.ask("done", timeout=5)
        handled = [entry for entry in log if entry[1] != "start"]
        assert handled.index(("b", "b's only")) < handled.index(("a", 3 * BURST - 1))
        assert [m for n, m in handled if n == "a"] == ["wait", *range(3 * BURST), "done"]
    finally:
        gate.set()
        a.stop(block=True, timeout=5)
        b.stop(block=True, timeout=5)


def test_the_thread_ends_with_its_last_actor_and_comes_back_for_the_next(
    log: list[Any],
) -> None:
    first = Recorder.start("a", log)
    thread = first.ask("thread", timeout=5)
    assert not thread.daemon  # like pykka's: the process waits for its actors
    first.stop(block=True, timeout=5)
    thread.join(5)
    assert not thread.is_alive()
    second = Recorder.start("b", log)
    assert second.ask("thread", timeout=5).is_alive()
    second.stop(block=True, timeout=5)


class Lazy:
    """A message that waits for the thread's rest to end."""

    def __init__(self, seen: threading.Event | None = None) -> None:
        self.seen = seen


class Rester(SharedThreadActor):
    thread_name = "test-rester"
    window_s = 3600.0  # in this test, only an urgent message ends a rest
    lazy = (Lazy,)

    def __init__(self, log: list[Any]) -> None:
        super().__init__()
        self.log = log

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Lazy):
            self.log.append("lazy")
            if message.seen is not None:
                message.seen.set()
            return None
        self.log.append(message)
        return message


def test_lazy_messages_wait_for_the_rest_and_an_urgent_one_ends_it(log: list[Any]) -> None:
    ref = Rester.start(log)
    try:
        assert ref.ask("first", timeout=5) == "first"  # the thread now rests after its round
        seen = threading.Event()
        ref.tell(Lazy())
        ref.tell(Lazy(seen))
        assert not seen.wait(0.3)  # nothing happens while the thread rests
        assert ref.ask("urgent", timeout=5) == "urgent"
        assert log == ["first", "lazy", "lazy", "urgent"]
    finally:
        ref.stop(block=True, timeout=5)
