"""The pure connection lifecycle: a hypothesis state machine over ``transition`` with a model
of the actor's timers, and one example test per arrow of the diagram in lifecycle.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sitelink.actors import lifecycle as lc
from sitelink.actors.backoff import RetryPolicy
from sitelink.actors.lifecycle import Conn, State, transition
from sitelink.errors import LifecycleError

POLICY = RetryPolicy(base_s=1.0, max_s=8.0, jitter=0.2, reset_s=5.0, connect_timeout_s=3.0)
TIMER_EVENTS: dict[str, Any] = {
    lc.RETRY: lc.RetryDue(),
    lc.STABLE: lc.Stable(),
    lc.CONNECT_TIMEOUT: lc.ConnectTimedOut(u=0.5),
}
UP = (State.CONNECTING, State.CONNECTED, State.ERROR)

TAKEN_OVER = lc.ConnectionLost(reason="Connection lost: session taken over",
                               takeover_confirmed=True)

units = st.floats(0.0, 1.0, exclude_max=True)
reasons = st.sampled_from(["Connection refused: not authorised", "Network error: boom"])


class LifecycleMachine(RuleBasedStateMachine):
    """Drives ``transition`` like the SiteActor does: effects are applied to a model of the
    scheduler (timers by name), only armed timers are delivered, time moves by rule."""

    def __init__(self) -> None:
        super().__init__()
        self.conn = Conn()
        self.now = 1000.0
        self.armed: dict[str, tuple[float, Any]] = {}  # name -> (due, event)
        # The model's own count of recent client-id fights: a takeover the broker confirmed,
        # or a link that dropped before it was up for reset_s (two clients with one id look
        # like that on brokers that do not say "taken over").
        self.takeovers: list[float] = []
        self.up_since: float | None = None  # when the model saw the link come up

    # --- the model of the actor ---------------------------------------------------------------

    def feed(self, event: Any) -> list[lc.Effect]:
        before = self.conn
        self.conn, effects = transition(before, event, self.now, POLICY)
        for effect in effects:
            match effect:
                case lc.Schedule(timer=name, delay_s=delay, event=timed):
                    assert delay >= 0
                    self.armed[name] = (self.now + delay, timed)
                case lc.Cancel(timer=name):
                    self.armed.pop(name, None)
                case lc.Connect():  # the actor arms the CONNACK timeout when it connects
                    self.armed[lc.CONNECT_TIMEOUT] = (
                        self.now + POLICY.connect_timeout_s,
                        lc.ConnectTimedOut(u=0.5),
                    )
        after = self.conn
        # retry_count only grows by one on a failure, or resets via Stable after reset_s up.
        if after.retry_count < before.retry_count:
            assert isinstance(event, lc.Stable)
            assert before.state is State.CONNECTED
            assert before.connected_at is not None
            assert self.now - before.connected_at >= POLICY.reset_s
            assert after.retry_count == 0
        else:
            assert after.retry_count in (before.retry_count, before.retry_count + 1)
        if after.retry_count == before.retry_count + 1:
            assert after.state is State.ERROR and before.state is not State.ERROR
        # the model's takeover bookkeeping, and what the message must say about it
        lost = isinstance(event, lc.ConnectionLost) and before.state is State.CONNECTED
        if lost:
            assert self.up_since is not None
            early = self.now - self.up_since < POLICY.reset_s
            if event.takeover_confirmed or early:
                self.takeovers = [t for t in self.takeovers if self.now - t < 60] + [self.now]
        if after.state is State.CONNECTED and before.state is not State.CONNECTED:
            self.up_since = self.now
        if isinstance(event, lc.Stable) and after.retry_count < before.retry_count:
            self.takeovers = []
        if after.state is State.ERROR and before.state is not State.ERROR:
            recent = [t for t in self.takeovers if self.now - t < 60]
            conflict = "client id" in after.error_message.lower()
            assert conflict == (len(recent) >= 3), (self.takeovers, self.now, after.error_message)
            if conflict:
                # "probably" unless the broker confirmed the takeover that ended this link
                confirmed = lost and event.takeover_confirmed
                assert ("probably" in after.error_message) == (not confirmed), after.error_message
        return effects

    # --- operator commands ------------------------------------------------------------------

    @rule()
    def start(self) -> None:
        self.feed(lc.Start())
        assert self.conn.enabled
        assert self.conn.state in UP

    @rule()
    def stop(self) -> None:
        self.feed(lc.Stop())
        assert self.conn.state in (State.DISCONNECTED, State.DISABLED)
        assert not self.conn.enabled
        assert self.armed == {}

    @rule()
    def reconnect(self) -> None:
        if self.conn.enabled:
            self.feed(lc.Reconnect())
            assert self.conn.state is State.CONNECTING
        else:
            with pytest.raises(LifecycleError):
                self.feed(lc.Reconnect())

    @rule()
    def config_changed(self) -> None:
        was = self.conn
        self.feed(lc.ConfigChanged())
        if was.enabled:
            assert self.conn.state is State.CONNECTING
        else:
            assert self.conn == was

    @rule()
    def disconnect_finished(self) -> None:
        was = self.conn
        self.feed(lc.Stopped())
        if was.state is State.DISABLED:
            assert self.conn.state is State.DISCONNECTED
        else:
            assert self.conn == was

    # --- what the port says ---------------------------------------------------------------

    @rule()
    def connack(self) -> None:
        self.port_event(lc.Connected())

    @rule()
    def suback(self) -> None:
        self.port_event(lc.Subscribed())

    @rule(reason=reasons, u=units)
    def connect_failed(self, reason: str, u: float) -> None:
        self.port_event(lc.ConnectFailed(reason=reason, u=u))

    @rule(takeover=st.booleans(), u=units)
    def connection_lost(self, takeover: bool, u: float) -> None:
        reason = "Connection lost: session taken over" if takeover else "Connection lost"
        self.port_event(lc.ConnectionLost(reason=reason, takeover_confirmed=takeover, u=u))

    def port_event(self, event: Any) -> None:
        was = self.conn
        effects = self.feed(event)
        if was.state in (State.DISCONNECTED, State.ERROR):
            # no attempt in flight: nothing to react to
            assert self.conn == was and effects == []

    # --- time --------------------------------------------------------------------------------

    @rule(seconds=st.floats(0.0, 20.0))
    def advance(self, seconds: float) -> None:
        """Deliver every armed timer that falls due, in order, as the clock would."""
        end = self.now + seconds
        while self.armed:
            name, (due, event) = min(self.armed.items(), key=lambda item: item[1][0])
            if due > end:
                break
            del self.armed[name]
            self.now = max(self.now, due)
            self.feed(event)
        self.now = end

    @rule(name=st.sampled_from(sorted(TIMER_EVENTS)))
    def stale_timer(self, name: str) -> None:
        """A timer message whose timer is no longer armed (cancelled in flight) does nothing."""
        if name in self.armed:
            return
        was = self.conn
        assert self.feed(TIMER_EVENTS[name]) == []
        assert self.conn == was

    @precondition(lambda self: self.conn.state is State.CONNECTED)
    @rule(takeover=st.booleans())
    def dropped_quickly(self, takeover: bool) -> None:
        """A takeover, or a plain drop, soon after connecting, so that three can fall within
        a minute."""
        self.advance(0.5)
        if self.conn.state is State.CONNECTED:
            self.connection_lost(takeover, 0.5)

    @precondition(lambda self: self.conn.enabled)
    @rule(takeover=st.booleans())
    def flaps(self, takeover: bool) -> None:
        """Reconnect, get through CONNACK and SUBACK, and lose the link half a second later:
        a few of these in a row are the signature of a client id conflict, which the other
        rules alone seldom reach within the step budget."""
        self.reconnect()
        self.connack()
        self.suback()
        assert self.conn.state is State.CONNECTED
        self.dropped_quickly(takeover)

    def assert_invariants(self) -> None:
        """Every invariant, for the explicit examples that call rules by hand."""
        self.retry_timer_armed_iff_error()
        self.connect_timeout_only_while_connecting()
        self.stable_timer_only_while_connected()
        self.next_retry_at_set_iff_error()
        self.enabled_iff_on_the_way_up()
        self.acked_only_while_connecting()
        self.nothing_armed_when_disconnected()

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def retry_timer_armed_iff_error(self) -> None:
        assert (lc.RETRY in self.armed) == (self.conn.state is State.ERROR)

    @invariant()
    def connect_timeout_only_while_connecting(self) -> None:
        assert (lc.CONNECT_TIMEOUT in self.armed) == (self.conn.state is State.CONNECTING)

    @invariant()
    def stable_timer_only_while_connected(self) -> None:
        if lc.STABLE in self.armed:
            assert self.conn.state is State.CONNECTED

    @invariant()
    def next_retry_at_set_iff_error(self) -> None:
        if self.conn.state is State.ERROR:
            assert self.conn.next_retry_at == self.armed[lc.RETRY][0]
            assert self.conn.error_message
        else:
            assert self.conn.next_retry_at is None

    @invariant()
    def enabled_iff_on_the_way_up(self) -> None:
        assert self.conn.enabled == (self.conn.state in UP)

    @invariant()
    def acked_only_while_connecting(self) -> None:
        if self.conn.acked:
            assert self.conn.state is State.CONNECTING

    @invariant()
    def nothing_armed_when_disconnected(self) -> None:
        if self.conn.state is State.DISCONNECTED:
            assert self.armed == {}


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_model_expects_three_early_drops_to_be_a_probable_conflict() -> None:
    """Three Start→Connected→Subscribed→ConnectionLost(takeover_confirmed=False) rounds with
    no time passing: the code calls the third a probable client id conflict, and so must the
    model."""
    machine = LifecycleMachine()
    for _ in range(3):
        for step in (machine.start, machine.connack, machine.suback):
            step()
            machine.assert_invariants()
        machine.connection_lost(False, 0.5)
        machine.assert_invariants()
    assert machine.conn.error_message.startswith("Client id conflict")
    assert "probably took over this connection 3 times" in machine.conn.error_message
    machine.teardown()


# --- one example per arrow of the diagram -------------------------------------------------


def run(conn: Conn, *events: Any, now: float = 100.0) -> tuple[Conn, list[lc.Effect]]:
    effects: list[lc.Effect] = []
    for event in events:
        conn, effects = transition(conn, event, now, POLICY)
    return conn, effects


def connecting() -> Conn:
    return run(Conn(), lc.Start())[0]


def connected() -> Conn:
    return run(Conn(), lc.Start(), lc.Connected(), lc.Subscribed())[0]


def in_error() -> Conn:
    return run(connecting(), lc.ConnectFailed(reason="Network error: boom", u=0.5))[0]


def test_start_from_disconnected_begins_an_attempt() -> None:
    """disconnected --Start--> connecting, with a Connect and a status emit."""
    conn, effects = run(Conn(), lc.Start())
    assert conn.state is State.CONNECTING and conn.enabled
    assert lc.Connect() in effects and lc.Emit() in effects


def test_connack_asks_for_subscriptions_and_stays_connecting() -> None:
    """connecting --Connected--> still connecting (acked), with a Subscribe."""
    conn, effects = run(connecting(), lc.Connected())
    assert conn.state is State.CONNECTING and conn.acked
    assert effects == [lc.Subscribe()]


def test_granted_subscriptions_make_it_connected() -> None:
    """acked --Subscribed--> connected: CONNACK timeout cancelled, stable timer armed."""
    conn, effects = run(connecting(), lc.Connected(), lc.Subscribed(), now=42.0)
    assert conn.state is State.CONNECTED and conn.connected_at == 42.0
    assert lc.Cancel(timer=lc.CONNECT_TIMEOUT) in effects
    assert lc.Schedule(timer=lc.STABLE, delay_s=POLICY.reset_s, event=lc.Stable()) in effects
    assert lc.Record(kind="connected", reason="") in effects


def test_subscribed_before_connack_is_ignored() -> None:
    """A SUBACK without a CONNACK in this attempt changes nothing."""
    conn = connecting()
    assert run(conn, lc.Subscribed()) == (conn, [])


def test_connection_lost_from_connected_is_an_error_with_a_retry() -> None:
    """connected --ConnectionLost--> error, retry scheduled at base delay, next_retry_at set."""
    conn, effects = run(connected(), lc.ConnectionLost(reason="Connection lost", u=0.5), now=50.0)
    assert conn.state is State.ERROR
    assert conn.error_message == "Connection lost"
    assert conn.next_retry_at == 50.0 + POLICY.base_s
    assert conn.retry_count == 1
    assert lc.Schedule(timer=lc.RETRY, delay_s=POLICY.base_s, event=lc.RetryDue()) in effects
    assert lc.Record(kind="lost", reason="Connection lost") in effects
    assert lc.Disconnect() in effects


def test_connect_failed_from_connecting_is_an_error() -> None:
    """connecting --ConnectFailed--> error, recorded as failed with the reason."""
    conn, effects = run(connecting(), lc.ConnectFailed(reason="Connection refused: not authorised"))
    assert conn.state is State.ERROR
    assert conn.error_message == "Connection refused: not authorised"
    assert lc.Record(kind="failed", reason="Connection refused: not authorised") in effects


def test_connect_timed_out_names_what_it_waited_for() -> None:
    """connecting --ConnectTimedOut--> error, naming CONNACK or, once acked, SUBACK."""
    assert run(connecting(), lc.ConnectTimedOut())[0].error_message == (
        "Timed out waiting for CONNACK"
    )
    acked = run(connecting(), lc.Connected())[0]
    assert run(acked, lc.ConnectTimedOut())[0].error_message == "Timed out waiting for SUBACK"


def test_retry_due_from_error_begins_the_next_attempt() -> None:
    """error --RetryDue--> connecting, keeping the failure count for the next delay."""
    conn, effects = run(in_error(), lc.RetryDue())
    assert conn.state is State.CONNECTING and conn.retry_count == 1
    assert conn.next_retry_at is None
    assert lc.Connect() in effects


def test_reconnect_from_error_skips_the_wait() -> None:
    """error --Reconnect--> connecting at once, the retry timer cancelled."""
    conn, effects = run(in_error(), lc.Reconnect())
    assert conn.state is State.CONNECTING
    assert effects[0] == lc.Cancel(timer=lc.RETRY) and lc.Connect() in effects


def test_reconnect_from_connected_drops_the_link_first() -> None:
    """connected --Reconnect--> connecting, with a Disconnect before the Connect."""
    _, effects = run(connected(), lc.Reconnect())
    assert effects.index(lc.Disconnect()) < effects.index(lc.Connect())


def test_stop_while_connected_goes_through_disabled() -> None:
    """connected --Stop--> disabled, every timer cancelled, a Disconnect asked for."""
    conn, effects = run(connected(), lc.Stop())
    assert conn.state is State.DISABLED and not conn.enabled
    assert all(c in effects for c in lc.ALL_TIMERS)
    assert lc.Disconnect() in effects


def test_stop_while_connecting_goes_through_disabled() -> None:
    """connecting --Stop--> disabled."""
    assert run(connecting(), lc.Stop())[0].state is State.DISABLED


def test_disconnect_finished_ends_in_disconnected() -> None:
    """disabled --Stopped--> disconnected, recorded as stopped; so does the port's lost notice."""
    disabled = run(connected(), lc.Stop())[0]
    conn, effects = run(disabled, lc.Stopped())
    assert conn.state is State.DISCONNECTED
    assert lc.Record(kind="stopped", reason="Stopped") in effects
    conn, _ = run(disabled, lc.ConnectionLost(reason="Connection lost"))
    assert conn.state is State.DISCONNECTED


def test_stop_while_in_error_is_disconnected_at_once() -> None:
    """error --Stop--> disconnected (nothing to wait for), retry cancelled, message cleared."""
    conn, effects = run(in_error(), lc.Stop())
    assert conn.state is State.DISCONNECTED
    assert conn.next_retry_at is None and conn.error_message == ""
    assert lc.Cancel(timer=lc.RETRY) in effects


def test_start_while_disabled_comes_back_up() -> None:
    """disabled --Start--> connecting."""
    disabled = run(connected(), lc.Stop())[0]
    assert run(disabled, lc.Start())[0].state is State.CONNECTING


def test_reconnect_on_a_stopped_site_is_refused() -> None:
    """Reconnect on a disabled or never-started site raises LifecycleError naming both."""
    for conn in (Conn(), run(connected(), lc.Stop())[0]):
        with pytest.raises(LifecycleError, match="Reconnect"):
            transition(conn, lc.Reconnect(), 0.0, POLICY)


def test_config_change_on_a_stopped_site_does_nothing() -> None:
    """ConfigChanged on a stopped site is not an error and changes nothing."""
    assert run(Conn(), lc.ConfigChanged()) == (Conn(), [])


def test_stable_resets_the_failure_count() -> None:
    """connected --Stable--> connected with retry_count 0."""
    flapped = run(in_error(), lc.RetryDue(), lc.Connected(), lc.Subscribed())[0]
    assert flapped.retry_count == 1
    assert run(flapped, lc.Stable())[0].retry_count == 0


def test_three_takeovers_within_a_minute_name_the_client_id_conflict() -> None:
    """The third takeover within 60 s makes the error message name the client id conflict."""
    conn, t = connected(), 0.0
    for n in range(3):
        conn = run(conn, TAKEN_OVER, now=t)[0]
        assert ("client id" in conn.error_message.lower()) == (n == 2)
        conn = run(conn, lc.RetryDue(), lc.Connected(), lc.Subscribed(), now=t + 1)[0]
        t += 20.0


def test_takeovers_spread_over_more_than_a_minute_are_no_conflict() -> None:
    """Takeovers 40 s apart never reach three within a minute."""
    conn, t = connected(), 0.0
    for _ in range(5):
        conn = run(conn, TAKEN_OVER, now=t)[0]
        assert "client id" not in conn.error_message.lower()
        conn = run(conn, lc.RetryDue(), lc.Connected(), lc.Subscribed(), now=t + 1)[0]
        t += 40.0


def test_old_takeovers_do_not_label_a_later_failure() -> None:
    """A failure more than a minute after the last takeover does not claim a client id
    conflict, even when the link never stayed up long enough to reset the count."""
    conn, t = connected(), 0.0
    for _ in range(3):
        conn = run(conn, TAKEN_OVER, now=t)[0]
        conn = run(conn, lc.RetryDue(), lc.Connected(), lc.Subscribed(), now=t + 1)[0]
        t += 2.0
    assert run(conn, lc.ConnectionLost(reason="Connection lost"), now=t)[
        0
    ].error_message.startswith("Client id conflict")
    later = run(conn, lc.ConnectionLost(reason="Connection lost"), now=t + 120.0)[0]
    assert later.error_message == "Connection lost"
