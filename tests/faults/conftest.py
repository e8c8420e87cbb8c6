"""The fault suite: real processes, a real Mosquitto, real databases, each test bounded.

Fixtures: a broker per module, and the live-server helpers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ops.support import Running
from sitelink.embedded_broker import Mosquitto

SITELINK = str(Path(sys.executable).with_name("sitelink"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: installs packages, clones the repo or runs the demo (seconds to minutes)")


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """A Mosquitto for this module only (tests that kill or restart one make their own)."""
    with Mosquitto() as b:
        yield b


@pytest.fixture
def unqueued_mosquitto() -> Iterator[Mosquitto]:
    """A broker that queues without limit for a slow subscriber (Mosquitto drops QoS 1
    messages past 1,000 by default): on a loaded machine every message still reaches
    sitelink, so what the tests count is what sitelink did."""
    with Mosquitto(max_queued_messages=0) as broker:
        yield broker


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Starts ``sitelink ARGV...`` as a real process in the test's folder; every process it
    started is closed at the end of the test."""
    started: list[Running] = []

    def run(*argv: str, env: dict[str, str]) -> Running:
        process = Running([SITELINK, *argv], cwd=tmp_path, env=env, log_dir=tmp_path)
        started.append(process)
        return process

    yield run
    for process in started:
        process.close()
