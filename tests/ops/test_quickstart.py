"""The README's quick start, run literally in a fresh clone of the committed HEAD.

The commands are parsed from README.md's "Quick start" block, not written here, so the test
follows the README. ``make demo`` runs until health answers, then gets Ctrl-C. ``make test``
runs in full only with SITELINK_QUICKSTART_FULL=1 (CI does not need it: .ci/run is that
command on a clean clone); otherwise ``make -n test`` shows that the target resolves, which
keeps a developer's ``make test`` short. The inner run gets SITELINK_QUICKSTART_INNER=1,
under which every test of tests/ops skips (see conftest.py): they ran in the outer run from
the same commit, and this one must not recurse.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sitelink.embedded_broker import free_port, port_accepts

from .support import REPO, Running, clean_env, http_status

FULL = "SITELINK_QUICKSTART_FULL"
INNER = "SITELINK_QUICKSTART_INNER"
INSTALL_TIMEOUT_S = 900  # a fresh venv and node_modules; minutes only on a cold cache
TEST_TIMEOUT_S = 1800


def quick_start_commands(readme: str) -> list[str]:
    """The command lines of the first fenced block under the "Quick start" heading."""
    section = re.search(r"^##\s+Quick start\s*$(.*?)(?=^##\s|\Z)", readme, re.M | re.S)
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"^```[\w-]*\n(.*?)^```", section[1], re.M | re.S)
    assert block, "the Quick start section has no fenced code block"
    lines = (line.strip() for line in block[1].splitlines())
    return [line.removeprefix("$ ") for line in lines if line and not line.startswith("#")]


def _fresh_shell_env(**overrides: str) -> dict[str, str]:
    """A user's shell: no sitelink settings, and nothing of the make or pytest running us."""
    env = clean_env(**overrides)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKE_TERMOUT", "MAKE_TERMERR",
                 "PYTEST_CURRENT_TEST", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def test_readme_quick_start_is_make_demo_then_make_test() -> None:
    """The quick start is exactly two commands: ``make demo``, then ``make test``."""
    readme = (REPO / "README.md").read_text()
    assert quick_start_commands(readme) == ["make demo", "make test"]


@pytest.mark.slow
def test_quick_start_commands_work_in_a_fresh_clone(
    tmp_path: Path, run_process: Callable[..., Running]
) -> None:
    """In a clone of HEAD, the README's ``make demo`` installs what it needs and serves a
    healthy demo that Ctrl-C stops, and its ``make test`` passes (SITELINK_QUICKSTART_FULL=1)
    or at least resolves (``make -n``)."""
    clone = tmp_path / "sitelink"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    demo_command, test_command = quick_start_commands((clone / "README.md").read_text())

    port = free_port()
    demo = run_process(shlex.split(demo_command), cwd=clone,
                       env=_fresh_shell_env(DEMO_PORT=str(port)))
    demo.poll_until(lambda: http_status(f"http://127.0.0.1:{port}/api/v1/mqtt/health/") == 200,
                    INSTALL_TIMEOUT_S, f"{demo_command}: health answers 200")
    demo.wait_for_line(r"^admin token: \S+$", 10)
    demo.interrupt(group=True)  # Ctrl-C: make and the demo both get SIGINT
    demo.wait(20)
    assert not port_accepts("127.0.0.1", port)
    # make passes on the demo's own exit status: 0, or 130 after Ctrl-C; anything else
    # (a failed install or build on the way) is an error.
    assert set(re.findall(r"\] Error (\d+)", demo.report())) <= {"130"}, demo.report()
    assert (clone / "sitelink-demo.db").is_file()

    if os.environ.get(FULL) == "1":
        started = time.monotonic()
        inner = run_process(shlex.split(test_command), cwd=clone,
                            env=_fresh_shell_env(**{INNER: "1"}))
        code = inner.wait(TEST_TIMEOUT_S)
        assert code == 0, inner.report(tail_lines=120)
        print(f"{test_command} in the clone: {time.monotonic() - started:.0f} s")
    else:
        argv = shlex.split(test_command)
        dry = subprocess.run([argv[0], "-n", *argv[1:]], cwd=clone, capture_output=True,
                             text=True, env=_fresh_shell_env(), timeout=120)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "pytest" in dry.stdout and "npm test" in dry.stdout, dry.stdout
    shutil.rmtree(clone, ignore_errors=True)  # a venv and node_modules: hundreds of MB
