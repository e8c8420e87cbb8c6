"""Fixtures of the end-to-end tests: a live server per module (SQLite, or each engine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.live import LiveServer, require_postgres, running_server
from sitelink.embedded_broker import Mosquitto


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """A Mosquitto for this module only (tests that kill or restart one make their own)."""
    with Mosquitto() as b:
        yield b


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("server")) as live:
        yield live


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_server(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The same tests once on SQLite and once on PostgreSQL."""
    if request.param == "postgres":
        require_postgres()
    with running_server(request.param, tmp_path_factory.mktemp("server")) as live:
        yield live
