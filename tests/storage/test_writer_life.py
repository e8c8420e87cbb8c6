"""The writer child's life as a pure function: every state is reachable, the event sequences
RemoteWriter really produces never hit an illegal transition, and the restart delay doubles
while children die before they are ready and is back to the first once one is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sitelink.errors import LifecycleError
from sitelink.storage.writer_life import (
    Abandon,
    Close,
    CloseDone,
    Fail,
    Gone,
    Life,
    MarkUp,
    Ready,
    Reap,
    Reaped,
    RestartDue,
    RestartPolicy,
    ScheduleRestart,
    SendClose,
    Spawn,
    Start,
    StartFailed,
    State,
    WriterEvent,
    WriterLifeError,
    transition,
)

POLICY = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0)
SEEN: set[State] = set()


class RealSequences(RuleBasedStateMachine):
    """Drives the transition with the events RemoteWriter can produce in each situation: a
    child that exists can say Ready or vanish; a start can time out; a scheduled restart can
    fire; close can be called at any time (and CloseDone follows a Close that waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.life = Life(restart_delay_s=POLICY.first_delay_s)
        self.child = False  # a child process with a socket exists
        self.waiting_ready = False  # a _spawn awaits Ready
        self.restart_scheduled = False
        self.close_waiting = False
        self.reaping = False
        self.effects: list[object] = []
        SEEN.add(self.life.state)

    def step(self, event: WriterEvent) -> None:
        before = self.life
        self.life, self.effects = transition(self.life, event, POLICY)
        SEEN.add(self.life.state)
        for effect in self.effects:
            match effect:
                case Spawn():
                    self.child = self.waiting_ready = True
                case Abandon():
                    self.child = False
                case ScheduleRestart(delay_s=delay_s):
                    assert delay_s == before.restart_delay_s
                    self.restart_scheduled = True
                case SendClose():
                    self.close_waiting = True
                case MarkUp():
                    self.waiting_ready = False
        if isinstance(event, RestartDue | Close):
            self.restart_scheduled = False

    @precondition(lambda self: self.life.state is State.IDLE and not self.close_waiting)
    @rule()
    def start(self) -> None:
        self.step(Start())
        assert self.life.state is State.STARTING

    @precondition(lambda self: self.child and self.waiting_ready)
    @rule()
    def ready(self) -> None:
        self.step(Ready())
        assert MarkUp() in self.effects
        if self.life.state is State.UP:
            assert self.life.restart_delay_s == POLICY.first_delay_s

    @precondition(lambda self: self.child)
    @rule(why=st.sampled_from(["the storage writer process exited", "gone"]))
    def child_vanishes(self, why: str) -> None:
        state = self.life.state
        self.step(Gone(why=why))
        assert Fail(why=why) in self.effects and not self.child
        assert any(isinstance(e, ScheduleRestart) for e in self.effects) == (
            state in (State.UP, State.RESTARTING))
        if self.waiting_ready:  # the waiting _spawn sees the failure it was given
            self.waiting_ready = False
            self.step(StartFailed())
            assert self.effects == []

    @precondition(lambda self: self.child and self.waiting_ready)
    @rule()
    def start_times_out(self) -> None:
        state = self.life.state
        self.waiting_ready = False
        self.step(StartFailed())
        if state is not State.CLOSING:
            assert Abandon() in self.effects
            self.child = False

    @precondition(lambda self: self.restart_scheduled)
    @rule()
    def restart_fires(self) -> None:
        self.step(RestartDue())
        assert self.life.state is State.RESTARTING
        assert self.effects == [Reap()]
        self.reaping = True

    @precondition(lambda self: self.reaping)
    @rule()
    def reaped(self) -> None:
        """Close may have come while the last child was reaped: then no new child."""
        self.reaping = False
        state = self.life.state
        self.step(Reaped())
        assert self.effects == ([Spawn(respawn=True)] if state is State.RESTARTING else [])

    @precondition(lambda self: not self.close_waiting)
    @rule()
    def close(self) -> None:
        self.step(Close())
        if self.life.state is State.CLOSED:
            assert Reap() in self.effects

    @precondition(lambda self: self.close_waiting)
    @rule()
    def close_done(self) -> None:
        self.step(CloseDone())
        self.close_waiting = False
        self.child = self.waiting_ready = False
        assert self.life.state is State.CLOSED

    @invariant()
    def delay_is_bounded(self) -> None:
        assert POLICY.first_delay_s <= self.life.restart_delay_s <= POLICY.max_delay_s

    @invariant()
    def a_scheduled_restart_means_lost(self) -> None:
        assert self.restart_scheduled == (self.life.state is State.LOST)


RealSequences.TestCase.settings = settings(max_examples=300, stateful_step_count=30,
                                           deadline=None)
TestRealSequences = RealSequences.TestCase


def test_every_state_is_reached() -> None:
    """Runs after the machine above (same module, in order): it visited every state."""
    assert set(State) == SEEN


@given(deaths=st.integers(min_value=1, max_value=12))
def test_the_restart_delay_doubles_up_to_the_cap_and_resets_when_ready(deaths: int) -> None:
    life, _ = transition(Life(), Start(), POLICY)
    life, _ = transition(life, Ready(), POLICY)
    delays = []
    for _ in range(deaths):
        life, effects = transition(life, Gone(why="x"), POLICY)
        delays.extend(e.delay_s for e in effects if isinstance(e, ScheduleRestart))
        life, _ = transition(life, RestartDue(), POLICY)
        life, _ = transition(life, Reaped(), POLICY)
    assert delays == [min(2.0 ** n, 30.0) for n in range(deaths)]
    life, _ = transition(life, Ready(), POLICY)
    assert life == Life(state=State.UP, restart_delay_s=1.0)


@pytest.mark.parametrize(("state", "event"), [
    (State.UP, Start()), (State.CLOSED, Start()), (State.IDLE, Ready()),
    (State.UP, RestartDue()), (State.IDLE, RestartDue()), (State.CLOSING, Close()),
    (State.UP, CloseDone()), (State.LOST, Ready()), (State.UP, Reaped()),
])
def test_an_illegal_transition_names_the_state_and_the_event(state: State,
                                                             event: WriterEvent) -> None:
    with pytest.raises(WriterLifeError) as caught:
        transition(Life(state=state), event, POLICY)
    assert isinstance(caught.value, LifecycleError)
    assert caught.value.state is state and caught.value.event == event
    assert type(event).__name__ in str(caught.value) and str(state) in str(caught.value)
