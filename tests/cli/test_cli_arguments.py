"""``sitelink`` on the command line: every bad argument is one line on stderr and a
non-zero exit, never a traceback; ``sites add`` keeps the API's rules with the API's words.

Each case runs the real command in a process of its own against a SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SITELINK = Path(sys.executable).with_name("sitelink")


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SITELINK_", "MQTT_")) and k != "DATABASE_URL"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return subprocess.run([str(SITELINK), *argv], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("argv", "words"), [
    (["sites", "add", "bad code", "--broker", "h"],
     "sitelink: code: Expected `str` matching regex '^[A-Za-z0-9_-]{1,64}$'"),
    (["sites", "add", "site_x", "--broker", "host:notaport"],
     "sitelink: broker: port must be a number, got 'notaport' in 'host:notaport'"),
    (["sites", "add", "site_x", "--broker", "host:70000"],
     "sitelink: broker_port: Expected `int` <= 65535"),
    (["sites", "add", "site_x", "--broker", "host:0"],
     "sitelink: broker_port: Expected `int` >= 1"),
    (["sites", "add", "site_x", "--broker", ""],
     "sitelink: broker_host: Expected `str` of length >= 1"),
    (["sites", "add", "site_x", "--broker", "h", "--name", ""],
     "sitelink: name: Expected `str` of length >= 1"),
    (["sites", "add", "site_x", "--broker", "h", "--protocol", "4"], "--protocol: invalid choice"),
    (["sites", "add", "site_x"], "the following arguments are required: --broker"),
    (["serve", "--port", "x"], "sitelink serve: argument --port: expected a whole number"),
    (["serve", "--port", "70000"], "sitelink serve: argument --port: must be 1 to 65535"),
    (["demo", "--sites", "-1"], "sitelink demo: argument --sites: must be 0 to 100000"),
    (["demo", "--interval", "nan"], "sitelink demo: argument --interval: must be 0.01 to"),
    (["sites", "bogus"], "sitelink sites: argument ACTION: invalid choice: 'bogus'"),
    (["sites", "remove", "nosuch"], "sitelink: no site with code or id 'nosuch'"),
])
def test_a_bad_argument_is_one_line_and_a_failure(tmp_path: Path, argv: list[str],
                                                  words: str) -> None:
    done = run(tmp_path, *argv)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert words in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_refused_site_is_not_stored_and_a_good_one_is(tmp_path: Path) -> None:
    """``sites add "bad code"`` used to be stored and then crashed the server's supervisor."""
    assert run(tmp_path, "sites", "add", "bad code", "--broker", "h").returncode == 1
    added = run(tmp_path, "sites", "add", "site_ok", "--broker", "[::1]:1884")
    assert added.returncode == 0, added.stderr
    listed = run(tmp_path, "sites", "list").stdout
    assert "site_ok" in listed and "::1:1884" in listed and "bad code" not in listed
    again = run(tmp_path, "sites", "add", "site_ok", "--broker", "h")
    assert (again.returncode, again.stderr.strip()) == (
        1, "sitelink: a site with code 'site_ok' already exists")
