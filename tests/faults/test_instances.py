"""Start in the right order, and one instance per SQLite file (issue 11, points 3 and 4).

Real ``sitelink serve`` / ``sitelink demo`` processes. A second server on a busy port, or on
the database of a running one, must fail with one line and a non-zero exit before it
connects any site (the same client ids would knock the first instance's sites off their
brokers); the CLI's short commands keep working beside a running instance; a lock left by
a ``kill -9`` never blocks the next start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from integration.live import ADMIN_TOKEN
from ops.support import Running, clean_env, http_status
from sitelink.embedded_broker import Mosquitto, free_port

SITELINK = str(Path(sys.executable).with_name("sitelink"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'one.db'}",
                     SITELINK_ADMIN_TOKEN=ADMIN_TOKEN,
                     SITELINK_SECRET_KEY="faults-" + "k" * 32, MQTT_INSTANCE_ID="faults")


def cli(tmp_path: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SITELINK, *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def site(port: int) -> dict[str, object]:
    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/mqtt/sites/",
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5).json()
    found: dict[str, object] = answer["sites"][0]
    return found


def stderr_lines(process: Running) -> list[str]:
    return process.stderr_path.read_text(errors="replace").splitlines()


def test_a_second_instance_fails_in_one_line_and_leaves_the_first_alone(
        tmp_path: Path, env: dict[str, str], start: Callable[..., Running],
        mosquitto: Mosquitto) -> None:
    assert cli(tmp_path, env, "sites", "add", "site_a", "--enable",
               "--broker", f"{mosquitto.host}:{mosquitto.port}").returncode == 0
    port = free_port()
    first = start("serve", "--port", str(port), env=env)
    first.poll_until(lambda: http_status(f"http://127.0.0.1:{port}/api/v1/mqtt/health/") == 200,
                     60, "the first server is healthy")
    before = site(port)
    assert before["status"] == "connected"

    busy = start("serve", "--port", str(port), env=env)
    assert busy.wait(60) != 0
    assert stderr_lines(busy) == [
        f"sitelink: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(is another sitelink or another server running there?)"]

    same_db = start("serve", "--port", str(free_port()), env=env)
    assert same_db.wait(60) != 0
    [line] = stderr_lines(same_db)
    assert line.startswith(f"sitelink: another sitelink instance (pid={first.pid} ")
    assert f"listening=127.0.0.1:{port}) runs sites on {tmp_path / 'one.db'}" in line

    other_db = {**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'two.db'}"}
    demo = start("demo", "--port", str(port), env=other_db)
    assert demo.wait(60) != 0
    assert demo.lines == [] and len(stderr_lines(demo)) == 1  # no URL, no token

    for argv in (["status"], ["sites", "list"], ["token", "list"], ["migrate"]):
        done = cli(tmp_path, env, *argv)
        assert done.returncode == 0, (argv, done.stderr)
    after = site(port)
    assert after["status"] == "connected"
    assert after["connection_errors"] == before["connection_errors"]
    assert after["last_connected_at"] == before["last_connected_at"]  # never knocked off

    os.kill(first.pid, signal.SIGKILL)  # the kernel drops the lock with the process
    first.wait(30)
    again = start("serve", "--port", str(port), env=env)
    again.poll_until(lambda: http_status(f"http://127.0.0.1:{port}/api/v1/mqtt/health/") == 200,
                     60, "a new server after kill -9")
