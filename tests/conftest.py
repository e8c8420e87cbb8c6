"""Shared fixtures: real Mosquitto brokers on free ports of 127.0.0.1.

``mosquitto`` is a fresh broker per test: use it for anything that stops, kills or
restarts the broker, or that needs a clean retained-message state. ``mosquitto_session``
is one broker for the whole run, for tests that only publish and subscribe (give them
topics of their own).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from mqtt_support import Subscriber
from sitelink.embedded_broker import EmbeddedBroker, Mosquitto, use_port_block

PORT_BLOCK = 2_000  # ports per test process, from FIRST_PORT up
FIRST_PORT, EPHEMERAL_FROM = 20_000, 32_768  # the blocks stay below Linux's ephemeral range


def pytest_configure(config: pytest.Config) -> None:
    """Each test process (xdist's gw0, gw1, ...) takes free ports from a block of its own, so a
    server or broker a test kills can be started again on its port: nothing else takes it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    blocks = (EPHEMERAL_FROM - FIRST_PORT) // PORT_BLOCK
    use_port_block(FIRST_PORT + PORT_BLOCK * (int(worker or 0) % blocks), PORT_BLOCK)


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    with Mosquitto() as broker:
        yield broker


@pytest.fixture(scope="session")
def mosquitto_session() -> Iterator[Mosquitto]:
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def subscriber() -> Iterator[Callable[..., Subscriber]]:
    """A factory of connected ``Subscriber``s, all closed at the end of the test."""
    made: list[Subscriber] = []

    def make(
        broker: Mosquitto | EmbeddedBroker,
        *topics: str,
        username: str | None = None,
        password: str | None = None,
    ) -> Subscriber:
        sub = Subscriber(broker.host, broker.port, username=username, password=password)
        made.append(sub)
        reason = sub.connect()
        if not reason.is_failure:
            for topic in topics:
                sub.subscribe(topic)
        return sub

    yield make
    for sub in made:
        sub.close()
