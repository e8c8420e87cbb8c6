"""When a handed-over chunk counts as taken by the other instance (``wait_until_taken``, the
keeper's ``picked_up``): once each site is connected there, or in error there — its connect
attempt is over. A site whose broker is down used to hold the next chunk up for the whole
``HANDOVER_PICKUP_S`` (a joining instance took 100 sites with 30 on a dead broker in 9.4 s
instead of 4.5)."""

from __future__ import annotations

from alerts.support import site_record
from sitelink.cluster.link import wait_until_taken
from sitelink.readmodel import ReadModel


def read_model(**statuses: str) -> ReadModel:
    model = ReadModel("test", lambda key: None)
    model.load([site_record(int(name.removeprefix("s"))) for name in statuses])
    for name, status in statuses.items():
        model.sites[int(name.removeprefix("s"))].status = status  # type: ignore[assignment]
    return model


async def test_connected_or_in_error_elsewhere_is_taken() -> None:
    assert await wait_until_taken(read_model(s1="connected", s2="error"), [1, 2], 0)


async def test_on_its_way_or_down_is_not_taken_yet() -> None:
    for status in ("connecting", "disconnected", "disabled"):
        assert not await wait_until_taken(read_model(s1="connected", s2=status), [1, 2], 0)
