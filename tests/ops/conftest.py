"""Operations tests: the demo, the container recipe and the README's quick start, run as a
user runs them — real processes, real ports on 127.0.0.1, real installs in temporary dirs.

Tests marked ``slow`` install packages, clone the repo or run the demo; ``pytest -m "not
slow"`` leaves them out for a quick run. Inside the quick-start test's own ``make test``
(SITELINK_QUICKSTART_INNER=1) every test here skips: the outer run has them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from .support import Running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: installs packages, clones the repo or runs the demo (seconds to minutes)")


@pytest.fixture(autouse=True)
def _not_inside_the_quick_start() -> None:
    if os.environ.get("SITELINK_QUICKSTART_INNER") == "1":
        pytest.skip("inside the quick-start test's make test; the outer run has tests/ops")


@pytest.fixture
def run_process(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start ``Running`` processes that are killed and reaped at the end of the test."""
    started: list[Running] = []

    def start(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Running:
        running = Running(argv, cwd=cwd, env=env, log_dir=tmp_path)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()
