"""Operations tests: the demo, the container recipe and the README's quick start, run as a
user runs them — real processes, real ports on 127.0.0.1, real installs in temporary dirs.

Tests marked ``slow`` install packages, clone the repo or run the demo; ``pytest -m "not
slow"`` leaves them out for a quick run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from .support import Running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: installs packages, clones the repo or runs the demo (seconds to minutes)")


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
