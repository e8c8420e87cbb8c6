"""Event ids are unique across restarts (issue 11, point 6): a browser that reconnects to a
restarted server with its ``Last-Event-ID`` gets ``reset``, never the new run's events as if
they followed its id (it would silently miss the new run's first events)."""

from __future__ import annotations

from pathlib import Path

from integration.live import LiveServer, create_site, running_server
from sitelink.embedded_broker import Mosquitto


def changes(live: LiveServer, broker: Mosquitto, count: int) -> list[int]:
    """Ids of the ``site.changed`` events of ``count`` new sites, as a client sees them."""
    stream = live.events()
    try:
        codes = [create_site(live.admin(), broker.host, broker.port)["code"]
                 for _ in range(count)]
        return [int(stream.wait_for("site.changed", 10, code=code, change="created").id)
                for code in codes]
    finally:
        stream.close()


def test_ids_after_a_restart_are_new_and_old_ids_answer_reset(
        tmp_path: Path, broker: Mosquitto) -> None:
    with running_server("sqlite", tmp_path) as live:
        before = changes(live, broker, 6)
        live.restart()
        after = changes(live, broker, 3)
        assert min(after) > max(before)
        for stale in (before[4], before[-1]):
            stream = live.events(last_event_id=str(stale))
            try:
                first = stream.wait_for("reset", 10)
                assert stream.events[0] is first  # nothing of this run before it
            finally:
                stream.close()
        resumed = live.events(last_event_id=str(after[0]))
        try:
            assert int(resumed.wait_for("site.changed", 10, change="created").id) > after[0]
            assert not resumed.of("reset")
        finally:
            resumed.close()
