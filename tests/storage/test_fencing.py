"""Sorting events by the fence they were produced under (``storage.fencing.sort_out``) and
leaving a site's rows out of a batch (``Batch.drop_sites``), pure."""

from __future__ import annotations

from sitelink.events import (
    ConnectionEventOccurred,
    DeviceHeartbeat,
    DeviceKey,
    LeaseFence,
    SensorValue,
    SiteTraffic,
)
from sitelink.storage.batch import coalesce
from sitelink.storage.fencing import sort_out


def traffic(site_id: int) -> SiteTraffic:
    return SiteTraffic(site_id=site_id, received=1, rejected=0, last_message_at=1.0)


def heartbeat(site_id: int) -> DeviceHeartbeat:
    return DeviceHeartbeat(device=DeviceKey(site_id, "datalogger", "d1"), model="m",
                           gateway="g", firmware=None, uptime_s=None,
                           sensors=(SensorValue(key="t", value=1.0),), at=1.0)


def test_without_a_fence_nothing_is_held_back() -> None:
    out = sort_out(None, [traffic(1), traffic(2)])
    assert (out.fence, len(out.kept), out.checks, out.refused) == (None, 2, {}, 0)


def test_events_of_sites_the_fence_does_not_hold_are_refused() -> None:
    fence = LeaseFence(owner="a", epochs={1: 4})
    out = sort_out(fence, [traffic(1), traffic(2), heartbeat(2)])
    assert out.kept == [traffic(1)] and out.checks == {1: 4} and out.refused == 2


def test_a_fence_in_the_stream_applies_to_what_follows_and_the_older_epoch_is_dropped() -> None:
    events = [traffic(1), LeaseFence(owner="a", epochs={1: 5, 2: 1}), traffic(1), traffic(2)]
    out = sort_out(LeaseFence(owner="a", epochs={1: 4}), events)
    # site 1's first event was produced under epoch 4, the last under 5: only 5 is kept
    assert out.kept == [traffic(1), traffic(2)] and out.refused == 1
    assert out.checks == {1: 5, 2: 1} and out.fence == events[1]


def test_a_batch_leaves_out_every_row_of_a_lost_site() -> None:
    batch = coalesce([traffic(1), traffic(2), heartbeat(1), heartbeat(2),
                      ConnectionEventOccurred(site_id=2, kind="connected", reason="", at=1.0)])
    assert batch.drop_sites({2}) == 5  # traffic, device, sensor, reading, connection event
    assert batch.site_ids() == {1} and len(batch.readings) == 1
    assert batch.drop_sites(set()) == 0
