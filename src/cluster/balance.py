"""How many sites an instance should claim or release: a pure function of one view.

Every instance runs ``decide`` on what it read from the database (live instances, how
many valid leases each holds, how many enabled sites nobody holds) and acts for itself
only; all of them reading the same tables converge on the same spread:

- with ``n`` sites over ``k`` live instances, each should hold between ``floor = n // k``
  and ``ceil = ceil(n / k)``; inside that band nothing moves (the band is the hysteresis:
  a site added or removed does not move others);
- an instance above ``ceil`` releases the excess (a joining instance made it so);
- free sites go first to instances below ``floor``, then up to ``ceil``;
- when nothing is free and some instance is below ``floor``, just as many instances above
  ``floor`` (the fullest first, then by id, so every instance picks the same ones) each
  release one site, and the ones below claim them.

No instance ends more than one above the average, as API.md promises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec


class View(msgspec.Struct, frozen=True, kw_only=True):
    """What one instance knows of the cluster at one moment."""

    me: str
    instances: tuple[str, ...]  # live instance ids (me among them)
    held: Mapping[str, int]  # valid leases per live instance
    sites: int  # enabled sites
    free: int  # enabled sites with no valid lease


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    claim: int = 0
    release: int = 0


def decide(view: View) -> Decision:
    """How many sites ``view.me`` should claim or release now."""
    instances = sorted(set(view.instances) | {view.me})
    floor, extra = divmod(view.sites, len(instances))
    ceil = floor + (1 if extra else 0)
    mine = view.held.get(view.me, 0)
    if mine > ceil:
        return Decision(release=mine - ceil)
    if view.free > 0:
        need = max(0, floor - mine)
        others_need = sum(max(0, floor - view.held.get(i, 0)) for i in instances if i != view.me)
        spare = view.free - need - others_need
        extra_mine = min(max(0, ceil - max(mine, floor)), max(0, spare))
        return Decision(claim=min(view.free, need + extra_mine))
    deficit = sum(max(0, floor - view.held.get(i, 0)) for i in instances)
    if deficit and mine > floor:
        donors = sorted((i for i in instances if view.held.get(i, 0) > floor),
                        key=lambda i: (-view.held.get(i, 0), i))
        if view.me in donors[:deficit]:
            return Decision(release=1)
    return Decision()


HANDOVER_CHUNK_S = 0.2  # a handover chunk is what one taker connects in this long


def handover_chunk(connect_rate: float) -> int:
    """How many sites to release at once: what one instance connects within
    ``HANDOVER_CHUNK_S`` at ``connect_rate``, so a released site waits a fraction of a
    second for its new owner, not behind the connects of every other site released with it."""
    return max(1, math.floor(connect_rate * HANDOVER_CHUNK_S))
