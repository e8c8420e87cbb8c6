"""How long an instance may run its sites by its own clock (``cluster.tenure``), pure: the
tenure ends a margin before the TTL counted from when the renewal was *sent*, a claim never
extends leases held before it, and nothing is valid once it has lapsed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sitelink.cluster import tenure as ten


def test_a_renewal_counts_from_when_it_was_sent_minus_the_margin() -> None:
    held = ten.renewed(sent_at=100.0, ttl_s=15.0)
    assert ten.margin_s(15.0) == 3.0
    assert ten.valid(held, 111.9) and not ten.valid(held, 112.0)
    assert ten.check(held, 111.9) == held
    assert ten.check(held, 112.0).state is ten.TenureState.LAPSED


def test_a_claim_starts_a_tenure_but_never_extends_one_held() -> None:
    first = ten.claimed(ten.Tenure(), sent_at=10.0, ttl_s=3.0)
    assert first.state is ten.TenureState.HELD
    assert ten.claimed(first, sent_at=11.0, ttl_s=3.0) == first
    lapsed = ten.check(first, 100.0)
    assert ten.claimed(lapsed, sent_at=100.0, ttl_s=3.0).valid_until > 100.0


@given(ttl_s=st.floats(1.0, 600.0), sent_at=st.floats(0.0, 1e6),
       paused_s=st.floats(0.0, 1e4))
def test_a_tenure_never_outlives_the_lease_on_the_database(
        ttl_s: float, sent_at: float, paused_s: float) -> None:
    """The database's expiry is at least ``sent_at + ttl`` (its now() is later than the
    send): whenever the instance looks (even after a pause), valid means before that."""
    held = ten.renewed(sent_at=sent_at, ttl_s=ttl_s)
    looked_at = sent_at + paused_s
    if ten.valid(ten.check(held, looked_at), looked_at):
        assert looked_at < sent_at + ttl_s - 0.5
