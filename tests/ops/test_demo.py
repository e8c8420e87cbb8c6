"""``sitelink demo`` as a user runs it: one command on a machine with nothing set up."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sitelink.demo import demo_database_url, prepare_sites
from sitelink.embedded_broker import free_port, port_accepts
from sitelink.settings import Settings

from .support import REPO, Running, children_of, clean_env, http_status, process_alive

SITES, DATALOGGERS = 3, 8  # the demo's defaults (sitelink demo --help)


def _sitelink() -> str:
    """The ``sitelink`` script installed beside the interpreter running the tests."""
    script = Path(sys.executable).parent / "sitelink"
    return str(script) if script.exists() else shutil.which("sitelink") or "sitelink"


@pytest.mark.slow
def test_demo_serves_a_live_fleet_and_stops_on_sigint(
    run_process: Callable[..., Running], tmp_path: Path
) -> None:
    """The demo answers health within 20 s, prints the dashboard URL and an admin token that
    shows every simulated datalogger on the API within 30 s, keeps its data in
    ./sitelink-demo.db of its working directory, and on SIGINT stops within a few seconds
    taking its broker with it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo = run_process([_sitelink(), "demo", "--port", str(port)], cwd=tmp_path,
                       env=clean_env())

    broker_port = int(demo.wait_for_line(r"broker \((?:mosquitto|amqtt)\) on [\d.]+:(\d+)", 20)[1])
    assert demo.wait_for_line(r"^dashboard: (\S+)$", 20)[1] == f"{base}/"
    token = demo.wait_for_line(r"^admin token: (\S+)$", 20)[1]

    healthy_after = demo.poll_until(
        lambda: http_status(base + "/api/v1/mqtt/health/") == 200, 20, "health answers 200")
    assert healthy_after < 20

    expected = SITES * DATALOGGERS
    seen: list[dict[str, object]] = []

    def fleet_visible() -> bool:
        answer = httpx.get(f"{base}/api/v1/mqtt/dataloggers/",
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert answer.status_code == 200, answer.text
        seen[:] = answer.json()["dataloggers"]
        return len(seen) >= expected and any(d["is_online"] for d in seen)

    assert demo.poll_until(fleet_visible, 30, f"{expected} dataloggers on the API") < 30
    assert {d["site_id"] for d in seen} == {1, 2, 3}
    # The token is an admin token; no token is refused.
    assert http_status(f"{base}/api/v1/actors", token=token) == 200
    assert http_status(f"{base}/api/v1/mqtt/dataloggers/") == 401
    if (REPO / "web" / "dist" / "index.html").is_file():  # the dashboard, from the source tree
        page = httpx.get(f"{base}/", timeout=5)
        assert page.status_code == 200
        assert '<script type="module"' in page.text

    # Its own database in its working directory, never the serve default.
    assert (tmp_path / "sitelink-demo.db").is_file()
    assert not (tmp_path / "sitelink.db").exists()

    brokers = children_of(demo.pid)  # mosquitto, when that is the broker
    demo.interrupt(group=False)  # to the demo alone: it must stop its broker itself
    signalled_at = time.monotonic()
    assert demo.wait(10) in (0, 130), demo.report()
    assert time.monotonic() - signalled_at < 8, demo.report()
    assert not port_accepts("127.0.0.1", port)
    assert not port_accepts("127.0.0.1", broker_port)
    assert not [pid for pid in brokers if process_alive(pid)]
    assert "Traceback" not in demo.stderr_path.read_text(), demo.report()


@pytest.mark.slow
def test_demo_uses_database_url_when_it_is_set(
    run_process: Callable[..., Running], tmp_path: Path
) -> None:
    """An explicit DATABASE_URL wins over the demo's own default file."""
    port = free_port()
    database = tmp_path / "data" / "mine.db"
    database.parent.mkdir()
    demo = run_process([_sitelink(), "demo", "--port", str(port), "--sites", "1"],
                       cwd=tmp_path, env=clean_env(DATABASE_URL=f"sqlite:///{database}"))
    demo.wait_for_line(r"^admin token: ", 20)
    demo.poll_until(lambda: http_status(f"http://127.0.0.1:{port}/api/v1/mqtt/health/") == 200,
                    20, "health answers 200")
    assert database.is_file()
    assert (database.parent / "sitelink.key").is_file()  # the key lives beside the database
    assert not (tmp_path / "sitelink-demo.db").exists()
    demo.interrupt(group=True)  # Ctrl-C in a terminal reaches the whole group
    assert demo.wait(10) in (0, 130), demo.report()


def test_a_second_demo_keeps_what_the_first_left_and_fresh_starts_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Site counts across runs as the banner reports them; --fresh empties the database; the
    default database is ./sitelink-demo.db as an absolute URL (for the export line)."""
    monkeypatch.chdir(tmp_path)
    url = demo_database_url(Settings())
    assert url == f"sqlite:///{tmp_path.resolve() / 'sitelink-demo.db'}"
    settings = Settings(database_url=url)
    assert asyncio.run(prepare_sites(settings, "127.0.0.1", 1883, 6)) == 6
    assert asyncio.run(prepare_sites(settings, "127.0.0.1", 1884, 3)) == 6  # 3 kept
    assert asyncio.run(prepare_sites(settings, "127.0.0.1", 1885, 3, fresh=True)) == 3
    mine = Settings(database_url=f"sqlite:///{tmp_path / 'mine.db'}")
    assert demo_database_url(mine) == mine.database_url
