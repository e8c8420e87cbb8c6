"""How long this instance may run its sites, by its own monotonic clock. Pure.

A lease expires on the database's clock at ``now() + ttl``, ``now()`` being taken when the
renewal runs there — never before this instance sent it. So counting ``ttl`` from the
moment the renewal was *sent*, minus a margin, this instance stops its connections before
any other instance can see the lease expire, whatever the database or the network did
meanwhile, and whether or not this process was paused (SIGSTOP) in between.

States: ``held`` (valid until a monotonic time), ``lapsed`` (no renewal came back in time:
every site is dropped, and leases are claimed afresh with a new epoch).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class TenureState(StrEnum):
    NONE = "none"  # nothing claimed yet
    HELD = "held"
    LAPSED = "lapsed"


class Tenure(msgspec.Struct, frozen=True, kw_only=True):
    state: TenureState = TenureState.NONE
    valid_until: float = 0.0  # monotonic seconds; meaningful while HELD


def margin_s(ttl_s: float) -> float:
    """Safety margin: a fifth of the TTL, at least half a second, at most 5 s."""
    return min(5.0, max(0.5, ttl_s / 5))


def renewed(*, sent_at: float, ttl_s: float) -> Tenure:
    """A renewal of every held lease, sent at ``sent_at``, was confirmed by the database
    (the leases it did not renew are no longer held)."""
    return Tenure(state=TenureState.HELD, valid_until=sent_at + ttl_s - margin_s(ttl_s))


def claimed(tenure: Tenure, *, sent_at: float, ttl_s: float) -> Tenure:
    """New leases, claimed by a statement sent at ``sent_at``. The tenure ends with the
    oldest lease held: a claim never extends the leases held before it."""
    if tenure.state is TenureState.HELD:
        return tenure
    return renewed(sent_at=sent_at, ttl_s=ttl_s)


def valid(tenure: Tenure, now: float) -> bool:
    return tenure.state is TenureState.HELD and now < tenure.valid_until


def check(tenure: Tenure, now: float) -> Tenure:
    """``LAPSED`` once ``now`` reaches the end of a held tenure; unchanged otherwise."""
    if tenure.state is TenureState.HELD and now >= tenure.valid_until:
        return Tenure(state=TenureState.LAPSED)
    return tenure
