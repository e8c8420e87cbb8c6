"""Fixtures of the API tests: one live server (SQLite) per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.live import LiveServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("server")) as live:
        yield live
