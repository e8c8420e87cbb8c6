"""Cluster tests that need PostgreSQL use the storage suite's database fixtures; lease keepers
on it are made by ``keepers`` and ticked by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sitelink.cluster.keeper import LeaseKeeper
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site
from storage.conftest import pg, pg_database_url

__all__ = ["pg", "pg_database_url"]

TTL_S = 30.0


class Runner:
    """The sites a keeper told its runtime to run."""

    def __init__(self) -> None:
        self.running: set[int] = set()

    async def ownership_changed(self, lost: frozenset[int],
                                gained: frozenset[int] = frozenset()) -> None:
        self.running = (self.running - lost) | gained


@pytest.fixture
async def keepers(pg: Database) -> AsyncIterator[Callable[..., LeaseKeeper]]:
    """Makes keepers on ``pg`` under an MQTT_INSTANCE_ID (other ``LeaseKeeper`` arguments
    by keyword); each one is closed at the end."""
    made: list[LeaseKeeper] = []

    def make(instance_id: str, **options: Any) -> LeaseKeeper:
        keeper = LeaseKeeper(pg, instance_id=instance_id, ttl_s=TTL_S, runner=Runner(),
                             fence=lambda epochs: None, announce=lambda data: None,
                             **options)
        made.append(keeper)
        return keeper

    yield make
    await asyncio.gather(*(k.close() for k in made))


async def make_sites(db: Database, count: int) -> set[int]:
    made = [await create_site(db, NewSite(name=f"S{n}", code=f"name_{n}", broker_host="h",
                                          is_enabled=True)) for n in range(count)]
    return {site.id for site in made}


def running(keeper: LeaseKeeper) -> set[int]:
    assert isinstance(keeper.runner, Runner)
    return keeper.runner.running
