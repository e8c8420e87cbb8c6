"""``sitelink cluster`` on SQLite: the table of the one instance with the enabled sites it
runs (API.md: a table of instances, workers and their sites; the workers of a running
instance are its API's to tell)."""

from __future__ import annotations

from pathlib import Path

from cli.test_cli_arguments import run


def test_the_one_instance_runs_every_enabled_site(tmp_path: Path) -> None:
    for code in ("site_b", "site_a", "site_off"):
        assert run(tmp_path, "sites", "add", code, "--broker", "h").returncode == 0
    for code in ("site_a", "site_b"):
        assert run(tmp_path, "sites", "enable", code).returncode == 0
    done = run(tmp_path, "cluster")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("INSTANCE"))
    assert header.split() == ["INSTANCE", "STARTED", "LAST", "SEEN", "SITES", "WORKER", "PID",
                              "STATE", "RESTARTS"]
    [row] = [line.split() for line in lines[lines.index(header) + 1:] if ":" not in line
             and not line.startswith("unowned")]
    instance = row[0]
    assert row[1:] == ["-", "-", "2"]
    assert f"{instance}: site_a, site_b" in lines
    assert lines[-1] == "unowned sites: 0"
