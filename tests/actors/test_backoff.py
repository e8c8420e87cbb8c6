"""Properties of the retry delay and of the instance-wide connect-rate cap."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy, retry_delay


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    base = draw(st.floats(0.001, 1000.0))
    top = draw(st.floats(base, 100_000.0))
    jitter = draw(st.floats(0.0, 0.99))
    return RetryPolicy(base_s=base, max_s=top, jitter=jitter)


units = st.floats(0.0, 1.0, exclude_max=True)
counts = st.integers(0, 10**9)


def nominal(n: int, policy: RetryPolicy) -> float:
    """The delay without jitter, computed the slow and obviously right way."""
    if n > 60:  # base >= 0.001 s, so 2**60 times it is far past any max here
        return policy.max_s
    return min(policy.base_s * 2.0**n, policy.max_s)


@given(n=counts, policy=policies(), u=units)
@example(n=1050, policy=RetryPolicy(), u=0.5)  # where 2.0**n stops being a float
@example(n=10**9, policy=RetryPolicy(), u=0.999)
def test_delay_is_bounded_by_max_plus_jitter(n: int, policy: RetryPolicy, u: float) -> None:
    """No delay is negative or longer than max * (1 + jitter), however many failures."""
    delay = retry_delay(n, policy, u)
    assert math.isfinite(delay)
    assert 0.0 <= delay <= policy.max_s * (1 + policy.jitter) * (1 + 1e-12)


@given(policy=policies(), u=units)
def test_first_delay_is_at_least_base_minus_jitter(policy: RetryPolicy, u: float) -> None:
    """The first retry waits at least base * (1 - jitter) and at most base * (1 + jitter)."""
    delay = retry_delay(0, policy, u)
    assert delay >= policy.base_s * (1 - policy.jitter) * (1 - 1e-12)
    assert delay <= policy.base_s * (1 + policy.jitter) * (1 + 1e-12)


@given(n=st.integers(0, 3000), policy=policies(), u=units)
@example(n=1023, policy=RetryPolicy(), u=0.0)
def test_delay_never_shrinks_as_failures_grow(n: int, policy: RetryPolicy, u: float) -> None:
    """For the same random draw, one more failure never gives a shorter delay."""
    assert retry_delay(n + 1, policy, u) >= retry_delay(n, policy, u)


@given(n=counts, policy=policies(), u=units)
def test_jitter_stays_within_its_relative_range(n: int, policy: RetryPolicy, u: float) -> None:
    """The delay is the nominal min(base * 2**n, max) moved by at most ±jitter of itself."""
    delay, expected = retry_delay(n, policy, u), nominal(n, policy)
    assert expected * (1 - policy.jitter) * (1 - 1e-9) <= delay
    assert delay <= expected * (1 + policy.jitter) * (1 + 1e-9)


def test_defaults_double_from_five_seconds_up_to_five_minutes() -> None:
    """With API.md's defaults and no jitter, the delays are 5, 10, 20, … capped at 300 s."""
    policy = RetryPolicy()
    delays = [retry_delay(n, policy, 0.5) for n in range(8)]
    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert retry_delay(0, policy, 0.0) == pytest.approx(4.0)
    assert retry_delay(10**9, policy, 0.0) == pytest.approx(240.0)


@given(
    rate=st.floats(0.5, 1000.0),
    gaps=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=40),
    start=st.floats(0.0, 1e6),
)
def test_rate_limiter_spaces_slots_one_interval_apart(
    rate: float, gaps: list[float], start: float
) -> None:
    """Each reservation gets the earliest slot at or after its time that is 1/rate after
    the previous slot; the wait is never negative."""
    limiter = ConnectRateLimiter(rate)
    interval = 1.0 / rate
    now, previous_slot = start, -math.inf
    for gap in gaps:
        now += gap
        wait = limiter.reserve(now)
        slot = now + wait
        assert wait >= 0.0
        assert slot == pytest.approx(max(now, previous_slot + interval), abs=1e-6)
        if previous_slot != -math.inf:
            assert slot - previous_slot >= interval - 1e-6
        previous_slot = slot


@given(rate=st.floats(0.5, 1000.0), idle=st.floats(0.0, 100.0), start=st.floats(0.0, 1e6))
def test_rate_limiter_answers_zero_when_idle(rate: float, idle: float, start: float) -> None:
    """A first attempt, or one that comes a full interval after the last slot, goes at once."""
    limiter = ConnectRateLimiter(rate)
    assert limiter.reserve(start) == 0.0
    assert limiter.reserve(start + 1.0 / rate + idle) == 0.0


def test_rate_limiter_at_two_per_second_queues_a_burst() -> None:
    """Four attempts at the same moment at 2/s wait 0, 0.5, 1.0 and 1.5 s."""
    limiter = ConnectRateLimiter(2.0)
    assert [limiter.reserve(10.0) for _ in range(4)] == [0.0, 0.5, 1.0, 1.5]
