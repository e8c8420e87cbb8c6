"""Resource exhaustion without a token: bodies are bounded per route before they are parsed,
nesting is bounded (400, not a 500), memory stays flat under a stream of oversized bodies,
and the event-stream cap is decided before the 200."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from integration.live import ADMIN_TOKEN, EventStream, LiveServer, running_server, wait_until
from sitelink.api.limits import MAX_JSON_DEPTH, SMALL_BODY, json_depth_exceeds
from sitelink.embedded_broker import free_port
from sitelink.fanout import EventFilter, Hub, TooManyClients
from tls_support import Authority

NINE_MB_JUNK = json.dumps({"token": "x", "junk": "a" * 9_000_000}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("exhaustion"),
                        sse_max_clients=20) as live:
        yield live


def _post_json(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


def test_exhaustion_an_oversized_login_body_is_413_before_it_is_read(server: LiveServer) -> None:
    """9 MB at the login: 413, whether announced by Content-Length or sent chunked."""
    client = server.client()
    response = _post_json(client, "/api/v1/auth/session", NINE_MB_JUNK)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request Entity Too Large"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(NINE_MB_JUNK), 65_536):
            yield NINE_MB_JUNK[start:start + 65_536]

    chunked = client.post("/api/v1/auth/session", content=chunks(),
                          headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413


def test_exhaustion_body_limits_are_per_route(server: LiveServer) -> None:
    """Login takes a few KiB; a site's configuration (PEM certificates) and a published
    command (a message of up to 256 KiB) take more; bearer or not."""
    client, admin = server.client(), server.admin()
    padded = json.dumps({"token": "x" * (SMALL_BODY + 10)}).encode()
    assert _post_json(client, "/api/v1/auth/session", padded).status_code == 413
    pem = "".join(Authority(f"CA {i}").pem for i in range(12))  # a bundle of ~7 KiB
    assert len(pem) > SMALL_BODY
    site = {"name": "big", "code": "big_pem", "broker_host": "127.0.0.1", "tls": True,
            "tls_ca_pem": pem}
    assert admin.post("/api/v1/mqtt/sites/", json=site).status_code == 201
    assert admin.post("/api/v1/mqtt/sites/1/topics/",
                      json={"pattern": "x" * 20_000}).status_code == 413
    message = "\u0001" * 200_000  # 1.2 MB once JSON-escaped; the site does not exist
    published = admin.post("/api/v1/mqtt/sites/999999/publish/",
                           json={"topic": "none/x", "message": message})
    assert published.status_code == 404, published.text


def test_exhaustion_deep_nesting_without_a_token_is_400(server: LiveServer) -> None:
    """JSON nested thousands deep at the login (no token needed) is a 400 naming the body,
    not a 500 from the parser's recursion; so it is on an authenticated route."""
    deep = b'{"token": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    assert len(deep) <= SMALL_BODY
    response = _post_json(server.client(), "/api/v1/auth/session", deep)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("body:")
    site = b'{"name": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert _post_json(server.admin(), "/api/v1/mqtt/sites/", site).status_code == 400
    plain = server.client().post("/api/v1/auth/session", content=deep,
                                 headers={"Content-Type": "text/plain"})
    assert plain.status_code in (400, 415)


def test_exhaustion_depth_check_counts_only_structure() -> None:
    """Brackets inside strings do not count; the limit is exact."""
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert not json_depth_exceeds(at_limit)
    assert json_depth_exceeds(b"[" + at_limit + b"]")
    assert not json_depth_exceeds(json.dumps({"a": "[" * 100, "b": ['\\"{{{']}).encode())
    assert json_depth_exceeds(b'{"a": ' + b'{"b": ' * 40 + b"1" + b"}" * 41)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_exhaustion_memory_stays_flat_under_oversized_bodies(tmp_path: Path) -> None:
    """``sitelink serve`` (a real process, with its production GC settings): 100 x 9 MB
    bodies at the login and 100 refused 1.2 MB bodies at an admin route grow its resident
    memory by less than 40 MiB (before the fix: ~17 MiB per request, never freed)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "SITELINK_ADMIN_TOKEN": ADMIN_TOKEN, "SITELINK_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from sitelink.cli import main; sys.exit(main())",
         "serve", "--port", str(port)], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        def up() -> bool:
            try:
                return client.get("/api/v1/mqtt/health/").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout_s=30, message="sitelink serve answers")
        refused = json.dumps({"topic": "x/y", "message": "\u0001" * 200_000, "junk": 1}).encode()
        admin = {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"}
        for _ in range(5):  # warm up: first-use allocations are not growth
            client.post("/api/v1/auth/session", content=NINE_MB_JUNK,
                        headers={"Content-Type": "application/json"})
            client.post("/api/v1/mqtt/sites/1/publish/", content=refused, headers=admin)
        before = _rss_mib(process.pid)
        codes: dict[int, int] = {}
        for _ in range(100):
            for response in (
                client.post("/api/v1/auth/session", content=NINE_MB_JUNK,
                            headers={"Content-Type": "application/json"}),
                client.post("/api/v1/mqtt/sites/1/publish/", content=refused, headers=admin),
            ):
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        after = _rss_mib(process.pid)
        assert codes == {413: 100, 400: 100}
        assert after - before < 40, f"RSS {before:.0f} → {after:.0f} MiB"
    finally:
        client.close()
        process.terminate()
        process.wait(30)


def test_exhaustion_event_stream_cap_is_decided_before_the_200(server: LiveServer) -> None:
    """SITELINK_SSE_MAX_CLIENTS=20 and 25 concurrent opens: exactly 20 streams and 5 x 503
    (with Retry-After), never a 200 that is then cut off; closing streams frees slots."""
    streams = [EventStream(server.base_url, token=ADMIN_TOKEN) for _ in range(25)]
    for stream in streams:
        stream.begin()
    for stream in streams:
        assert stream.wait(lambda s=stream: s.status_code is not None or s.ended, 10)  # type: ignore[misc]
    statuses = sorted(s.status_code or 0 for s in streams)
    assert statuses == [200] * 20 + [503] * 5
    opened = [s for s in streams if s.status_code == 200]
    for stream in opened:  # each of them really streams
        assert stream.wait(lambda s=stream: any(c == "connected" for c, _ in s.comments), 5)  # type: ignore[misc]
    assert not any(s.ended for s in opened)
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        refused = client.get("/api/v1/events", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
    for stream in streams:
        stream.close()
    wait_until(lambda: len(server.runtime.hub.subscribers) == 0, message="streams released")
    again = server.events()
    assert again.status_code == 200
    again.close()


def test_exhaustion_hub_reservations_count_against_the_cap() -> None:
    """A reserved slot counts until it becomes a subscriber or is released, exactly once."""
    hub = Hub(max_clients=2)
    first, second = hub.reserve(), hub.reserve()
    with pytest.raises(TooManyClients):
        hub.reserve()
    second.release()
    second.release()  # a second release gives nothing back twice
    sub = hub.subscribe(EventFilter(), None, first)
    assert hub.slots_reserved == 0 and len(hub.subscribers) == 1
    third = hub.reserve()
    with pytest.raises(TooManyClients):
        hub.subscribe(EventFilter(), None)
    third.release()
    hub.unsubscribe(sub)
    assert hub.slots_reserved == 0 and not hub.subscribers
