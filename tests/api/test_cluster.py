"""``GET /api/v1/cluster`` on a live server (API.md "Cluster and workers"): any viewer reads
it, the answer has exactly the contract's fields, and an instance alone answers for itself —
one instance that runs every enabled site on its workers, no unowned site — in agreement with
the ``owner`` of each site's status object."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import msgspec

from integration.live import LiveServer, create_site, wait_until
from sitelink.api.cluster_answers import ClusterAnswer
from sitelink.embedded_broker import free_port

TOP = {"instance_id", "engine", "instances", "unowned_sites"}
INSTANCE = {"instance_id", "started_at", "last_seen_at", "sites", "workers"}


def _read(client: httpx.Client) -> tuple[dict[str, Any], ClusterAnswer]:
    response = client.get("/api/v1/cluster")
    assert response.status_code == 200, response.text
    # strict decoding: every field present with the contract's type, nothing else needed
    return response.json(), msgspec.json.decode(response.content, type=ClusterAnswer)


def _time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def test_anonymous_is_refused(server: LiveServer) -> None:
    assert server.client().get("/api/v1/cluster").status_code == 401


def test_viewer_reads_the_contract_shape(server: LiveServer) -> None:
    raw, answer = _read(server.viewer())
    assert set(raw) == TOP
    assert [set(i) for i in raw["instances"]] == [INSTANCE]
    assert answer.instance_id == server.settings.instance_id
    assert answer.engine == "sqlite"
    (me,) = answer.instances
    assert me.instance_id == answer.instance_id
    # its site workers, as its pool says (SITELINK_WORKERS of the test run)
    assert [(w.worker, w.state, w.restarts) for w in me.workers] == [
        (n, "running", 0) for n in range(server.settings.workers)]
    assert all(w.pid is not None and w.pid > 0 for w in me.workers)
    assert _time(me.started_at) <= _time(me.last_seen_at)
    assert answer.unowned_sites == 0


def test_last_seen_moves_on_started_stays(server: LiveServer) -> None:
    viewer = server.viewer()
    _, first = _read(viewer)

    def later() -> ClusterAnswer | None:
        _, again = _read(viewer)
        return again if again.instances[0].last_seen_at > first.instances[0].last_seen_at else None

    again = wait_until(later, message="last_seen_at never moved on")
    assert again.instances[0].started_at == first.instances[0].started_at


def test_counts_the_enabled_sites_it_runs_as_their_owner_says(server: LiveServer) -> None:
    admin, viewer = server.admin(), server.viewer()
    _, before = _read(viewer)
    port = free_port()  # nothing listens: an enabled site is run (and retried) all the same
    enabled = create_site(admin, "127.0.0.1", port, is_enabled=True)
    disabled = create_site(admin, "127.0.0.1", port, is_enabled=False)
    _, after = _read(viewer)
    assert after.instances[0].sites == before.instances[0].sites + 1
    assert after.unowned_sites == 0
    status = viewer.get(f"/api/v1/mqtt/sites/{enabled['site_id']}/status/").json()
    # on the worker that runs it, which counts it among its sites
    worker = server.runtime.sites.worker_of(enabled["site_id"])  # type: ignore[union-attr]
    assert status["owner"] == {"instance_id": after.instance_id, "worker": worker}
    assert worker is not None
    assert after.instances[0].workers[worker].sites == before.instances[0].workers[worker].sites + 1
    status = viewer.get(f"/api/v1/mqtt/sites/{disabled['site_id']}/status/").json()
    assert status["owner"] is None
    listed = viewer.get("/api/v1/mqtt/sites/").json()["sites"]
    owned = [s for s in listed if s["owner"] and s["owner"]["instance_id"] == after.instance_id]
    assert len(owned) == after.instances[0].sites
