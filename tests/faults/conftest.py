"""Fixtures of the fault suite: a broker per module, and the live-server helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitelink.broker import Mosquitto


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """A Mosquitto for this module only (tests that kill or restart one make their own)."""
    with Mosquitto() as b:
        yield b
