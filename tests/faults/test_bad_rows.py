"""A stored row that breaks the rules never stops sitelink (issue 11, point 1).

Rows are written straight into storage, past the API's validation, as an older version, a
hand edit or a restore would. Each must be skipped and shown (status ``error`` naming the
problem, health ``degraded``, the audit log and the log) while every other site goes on;
removing or fixing the row brings things back. A supervisor that dies is replaced, and
shutdown prints no actor tracebacks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integration.live import (
    LiveServer,
    create_site,
    running_server,
    site_status,
    unique_code,
    wait_status,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto
from sitelink.storage import sites as site_store
from sitelink.storage.sites import NewSite, SitePatch

BAD_CODE = "invalid code 'bad code': Expected `str` matching regex '^[A-Za-z0-9_-]{1,64}$'"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path) as server:
        yield server


def store_site(live: LiveServer, code: str, broker: Mosquitto, **fields: Any) -> int:
    """A site written to storage directly, without the API's rules."""
    record = live.call(site_store.create_site(live.runtime.db, NewSite(
        name=code, code=code, broker_host=broker.host, broker_port=broker.port, **fields)))
    return record.id


def health(admin: httpx.Client) -> dict[str, Any]:
    answer: dict[str, Any] = admin.get("/api/v1/mqtt/health/").json()
    return answer


def audit_actions(admin: httpx.Client) -> list[tuple[str, str]]:
    return [(e["action"], e["target"]) for e in admin.get("/api/v1/audit").json()["entries"]]


def assert_good_site_works(admin: httpx.Client, site_id: int) -> None:
    wait_status(admin, site_id, "connected")
    assert admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/").status_code == 200
    wait_status(admin, site_id, "disconnected")
    assert admin.post(f"/api/v1/mqtt/sites/{site_id}/start/").status_code == 200
    wait_status(admin, site_id, "connected")


def test_a_bad_code_row_at_reconcile_is_shown_and_the_others_go_on(
        live: LiveServer, broker: Mosquitto) -> None:
    admin = live.admin()
    good = create_site(admin, broker.host, broker.port, is_enabled=True)["site_id"]
    wait_status(admin, good, "connected")
    bad = store_site(live, "bad code", broker, is_enabled=True)
    live.call(live.runtime.reconcile())

    status = wait_status(admin, bad, "error")
    assert status["error_message"] == BAD_CODE
    report = health(admin)
    assert report["status"] == "degraded" and report["service"]["running"] is True
    assert report["connections"]["unhealthy"] == 1
    assert audit_actions(admin).count(("site.rejected", "bad code")) == 1
    live.call(live.runtime.reconcile())  # again: shown again, audited once
    assert audit_actions(admin).count(("site.rejected", "bad code")) == 1
    assert_good_site_works(admin, good)

    live.call(site_store.delete_site(live.runtime.db, bad))
    live.call(live.runtime.reconcile())
    wait_until(lambda: health(admin)["status"] == "healthy", 10, message=lambda: str(health(admin)))
    assert_good_site_works(admin, good)


def test_a_bad_row_at_start_is_shown_and_shutdown_is_quiet(
        live: LiveServer, broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """Also a bad port and a bad topic pattern; a disabled bad row still counts in health;
    fixing a row through the API makes it run."""
    admin = live.admin()
    good = create_site(admin, broker.host, broker.port, is_enabled=True)["site_id"]
    bad_code = store_site(live, "bad code", broker)
    bad_port = store_site(live, unique_code("port"), broker, is_enabled=True)
    bad_topic = store_site(live, unique_code("topic"), broker, is_enabled=True)
    db = live.runtime.db
    live.call(db.execute("UPDATE site SET broker_port = 0 WHERE id = {}", bad_port))
    topics = admin.get(f"/api/v1/mqtt/sites/{bad_topic}/topics/").json()["topics"]
    live.call(db.execute("UPDATE topic SET pattern = {} WHERE id = {}", "a/+/b", topics[0]["id"]))
    live.restart()
    admin = live.admin()

    assert wait_status(admin, bad_code, "error")["error_message"] == BAD_CODE
    assert wait_status(admin, bad_port, "error")["error_message"] == (
        "invalid broker_port 0: Expected `int` >= 1")
    assert wait_status(admin, bad_topic, "error")["error_message"].startswith(
        f"invalid topic {topics[0]['id']} pattern 'a/+/b': ")
    report = health(admin)
    assert report["status"] == "degraded"
    assert report["connections"]["unhealthy"] == 3  # two enabled, one disabled
    started = admin.post(f"/api/v1/mqtt/sites/{bad_code}/start/")
    assert started.status_code == 200
    assert started.json()["message"] == f"Site {bad_code} enabled, but it cannot run: {BAD_CODE}"
    assert wait_status(admin, bad_code, "error")["error_message"] == BAD_CODE
    assert_good_site_works(admin, good)

    fixed = admin.patch(f"/api/v1/mqtt/sites/{bad_port}/", json={"broker_port": broker.port})
    assert fixed.status_code == 200, fixed.text
    wait_status(admin, bad_port, "connected")
    live.call(site_store.update_site(db, bad_code, SitePatch(code=unique_code("fixed"))))
    admin.patch(f"/api/v1/mqtt/sites/{bad_topic}/topics/{topics[0]['id']}/",
                json={"pattern": "x/{serial}/heartbeat"})
    live.call(live.runtime.reconcile())
    wait_status(admin, bad_topic, "connected")
    wait_until(lambda: health(admin)["status"] == "healthy", 10,
               message=lambda: str(health(admin)))

    with caplog.at_level(logging.DEBUG):
        live.stop()
    noisy = [r for r in caplog.records
             if r.exc_info or "ActorDeadError" in r.getMessage() or r.levelno >= logging.ERROR]
    assert not noisy, [r.getMessage() for r in noisy]


def test_a_dead_supervisor_is_replaced_and_reported(tmp_path: Path, broker: Mosquitto) -> None:
    """In-process sites (SITELINK_WORKERS=0): the supervisor itself; a dead site worker is
    tests/faults/test_workers.py."""
    with running_server("sqlite", tmp_path, workers=0) as live:
        admin = live.admin()
        good = create_site(admin, broker.host, broker.port, is_enabled=True)["site_id"]
        wait_status(admin, good, "connected")
        first = live.runtime.supervisor
        assert first is not None
        first.stop()  # as a bug in the supervisor would end it
        wait_until(lambda: live.runtime.supervisor is not first
                   and live.runtime.supervisor is not None and live.runtime.supervisor.is_alive(),
                   20, message="a new supervisor")
        assert live.runtime.sites is not None and live.runtime.sites.restarts == 1
        wait_until(lambda: health(admin)["status"] == "healthy", 20,
                   message=lambda: str(health(admin)))
        assert_good_site_works(admin, good)
        assert site_status(admin, good)["client_id"].endswith(site_status(admin, good)["code"])
