"""The alert lifecycle as a pure transition, driven with hypothesis and a fake clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sitelink.alerts import machine as am

steps = st.lists(st.tuples(st.sampled_from(["raise", "clear", "suspend", "ack", "wait"]),
                           st.floats(min_value=0, max_value=200, allow_nan=False)),
                 max_size=40)


def _run(timing: am.Timing, script: list[tuple[str, float]]) -> list[tuple[float, am.Effect]]:
    """Drive a machine as the evaluator does: ``Due`` delivered exactly at ``due_at``.
    An acknowledgement of a firing alert shows in the result as ``am.Ack()``."""
    m, now, out = am.IDLE, 0.0, []

    def step(event: am.Event) -> None:
        nonlocal m
        m, effects = am.transition(m, event, now, timing)
        out.extend((now, e) for e in effects)

    for kind, dt in script:
        if kind == "wait":
            end = now + dt
            while m.due_at is not None and m.due_at <= end:
                now = max(now, m.due_at)
                step(am.Due())
            now = end
        else:
            if kind == "ack" and m.state is am.State.FIRING:
                out.append((now, am.Ack()))  # type: ignore[arg-type]
            step({"raise": am.Raise(now), "clear": am.Clear(), "suspend": am.Suspend(),
                  "ack": am.Ack()}[kind])
    return out


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 120), st.sampled_from([0, 30, 300]), steps)
def test_lifecycle_invariants(for_s: int, repeat_s: int, script: list[tuple[str, float]]) -> None:
    """Fires only after the condition held for_s since it opened; never fires twice without a
    resolve between; resolves only what fired; discards only what did not; repeats only
    while firing and not acknowledged, at least repeat_s apart."""
    timing = am.Timing(float(for_s), float(repeat_s))
    opened_at: float | None = None
    fired = False
    last_notice = 0.0
    acked = False
    for _, effect in _run(timing, script):
        match effect:
            case am.Ack():
                acked = True
            case am.Open(since=since):
                assert opened_at is None and not fired
                opened_at = since
            case am.Fire(at=at):
                assert opened_at is not None and not fired
                assert at - opened_at >= for_s - 1e-6
                fired, last_notice, acked = True, at, False
            case am.Resolve():
                assert fired
                opened_at, fired = None, False
            case am.Discard():
                assert opened_at is not None and not fired
                opened_at = None
            case am.Renotify(at=at):
                assert fired and not acked and repeat_s > 0
                assert at - last_notice >= repeat_s - 1e-6  # float sums
                last_notice = at


def test_condition_that_clears_sooner_never_fires() -> None:
    """Raised and cleared 59 s later with for_s 60: opened, discarded, never fired."""
    effects = _run(am.Timing(60, 0), [("raise", 0), ("wait", 59), ("clear", 0), ("wait", 600)])
    assert [type(e) for _, e in effects] == [am.Open, am.Discard]


def test_fires_exactly_after_for_s_and_repeats_until_acknowledged() -> None:
    """Held: fires at for_s, re-notifies every repeat_s, and stops once acknowledged."""
    effects = _run(am.Timing(60, 300),
                   [("raise", 0), ("wait", 60 + 300 * 2), ("ack", 0), ("wait", 3600)])
    assert [(t, type(e)) for t, e in effects] == [
        (0, am.Open), (60, am.Fire), (360, am.Renotify), (660, am.Renotify), (660, am.Ack)]


def test_suspend_keeps_a_firing_alert_and_drops_a_pending_one() -> None:
    """'Cannot know' (site down) discards a pending alert and leaves a firing one alone."""
    pending = _run(am.Timing(60, 0), [("raise", 0), ("wait", 10), ("suspend", 0)])
    assert [type(e) for _, e in pending] == [am.Open, am.Discard]
    firing = _run(am.Timing(60, 0), [("raise", 0), ("wait", 61), ("suspend", 0), ("wait", 99)])
    assert [type(e) for _, e in firing] == [am.Open, am.Fire]


def test_a_condition_older_than_for_s_fires_at_once() -> None:
    """Raise with a start long ago (no_data found at its deadline) fires with no wait."""
    m, effects = am.transition(am.IDLE, am.Raise(since=0.0), 100.0, am.Timing(60, 0))
    assert m.state is am.State.FIRING and effects == (am.Open(0.0), am.Fire(100.0))
