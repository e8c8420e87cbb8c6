"""The worker pool with real worker processes and a real Mosquitto: events come back as
batches, a publish is answered across the process boundary, a killed worker is started
again and given its sites from memory, and shutdown leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Sequence

from ops.support import process_alive
from sitelink.actors.mqtt_port import BrokerConfig
from sitelink.actors.site_messages import Publish, PublishResult, SiteSpec
from sitelink.actors.supervisor import Apply, Forward
from sitelink.embedded_broker import Mosquitto
from sitelink.events import CommandOutcome, Event, SiteStatusChanged
from sitelink.settings import Settings
from sitelink.workers.pool import WorkerPool


class Recorder:
    """The bridge's place: every batch a worker sent. ``until`` waits for the batches to
    make a condition true (notified by each batch, no polling)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.batches = 0
        self.changed = threading.Condition()  # an RLock: a condition may call statuses()

    def publish_batch(self, events: Sequence[Event]) -> None:
        with self.changed:
            self.events.extend(events)
            self.batches += 1
            self.changed.notify_all()

    def publish(self, event: Event) -> None:  # what the link itself says (a failed publish)
        self.publish_batch([event])

    def statuses(self, site_id: int) -> list[str]:
        with self.changed:
            return [e.status for e in self.events
                    if isinstance(e, SiteStatusChanged) and e.site_id == site_id]

    async def until(self, condition: Callable[[], bool], what: str,
                    timeout_s: float = 15.0) -> None:
        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(condition, timeout_s)

        assert await asyncio.to_thread(wait), f"not within {timeout_s} s: {what}"


def spec(site_id: int, broker: Mosquitto) -> SiteSpec:
    return SiteSpec(site_id=site_id, code=f"pool{site_id}", name="pool", is_enabled=True,
                    subscriptions=(), broker=BrokerConfig(host=broker.host, port=broker.port,
                                                          client_id=f"pool-test-{site_id}"))


async def test_events_commands_and_a_publish_answer_cross_the_channel(
        mosquitto: Mosquitto) -> None:
    sink = Recorder()
    pool = WorkerPool(Settings(shutdown_timeout_s=2.0, log_format="json"), 2, sink=sink)
    pool.start()
    await pool.ready()
    try:
        pool.tell(Apply((spec(1, mosquitto), spec(2, mosquitto))))
        for site_id in (1, 2):
            await sink.until(lambda s=site_id: "connected" in sink.statuses(s),
                             f"site {site_id}")
        assert [(w.worker, w.sites, w.state) for w in pool.workers()] == [
            (0, 1, "running"), (1, 1, "running")]
        assert (pool.worker_of(1), pool.worker_of(2), pool.worker_of(3)) == (1, 0, None)

        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[PublishResult]] = [loop.create_future() for _ in range(2)]
        for site_id, answer in zip((1, 99), answers, strict=True):
            pool.tell(Forward(site_id, Publish(
                command_id=f"c{site_id}", topic="pool/cmd", payload=b"x", qos=1, retain=False,
                reply=lambda r, a=answer: loop.call_soon_threadsafe(a.set_result, r))))
        acked, unknown = await asyncio.wait_for(asyncio.gather(*answers), 10)
        assert (acked.command_id, acked.outcome) == ("c1", "acked")
        assert (unknown.command_id, unknown.outcome, unknown.connected) == ("c99", "failed",
                                                                            False)
        [root] = await asyncio.to_thread(pool.tree, "here")
        assert root["urn"] == "sitelink:here"  # the instance's name in the cluster
        # the root is the workers' supervisors together: since the pool started, what they did
        assert root["started_at"] is not None and root["started_at"].endswith("Z")
        assert root["processed"] == sum(w["processed"] for w in root["children"]) > 0
        assert [(w["name"], [s["name"] for s in w["children"]]) for w in root["children"]] == [
            ("worker-0", ["pool2"]), ("worker-1", ["pool1"])]
    finally:
        await asyncio.to_thread(pool.stop_sites)
    assert sink.statuses(1)[-1] == "disconnected" and sink.statuses(2)[-1] == "disconnected"
    assert [w.state for w in pool.workers()] == ["stopped", "stopped"]
    assert not any(process_alive(w.pid) for w in pool.workers() if w.pid is not None)


async def test_a_killed_worker_is_started_again_with_its_sites(mosquitto: Mosquitto) -> None:
    sink = Recorder()
    pool = WorkerPool(Settings(shutdown_timeout_s=2.0, log_format="json"), 2, sink=sink)
    pool.start()
    await pool.ready()
    shutting_down = asyncio.Event()
    watch = asyncio.get_running_loop().create_task(pool.watch(shutting_down))
    try:
        pool.tell(Apply((spec(1, mosquitto), spec(2, mosquitto))))
        for site_id in (1, 2):
            await sink.until(lambda s=site_id: "connected" in sink.statuses(s),
                             f"site {site_id}")
        [before0, before1] = pool.workers()
        other = len(sink.statuses(2))
        assert before1.pid is not None
        os.kill(before1.pid, signal.SIGKILL)
        await sink.until(lambda: sink.statuses(1).count("connected") == 2, "site 1 reconnects")
        # the new worker said Ready before its site's events, on the same channel
        assert pool.running and pool.workers()[1].state == "running"
        [after0, after1] = pool.workers()
        assert after0 == before0
        assert (after1.restarts, after1.sites) == (1, 1) and after1.pid != before1.pid
        assert len(sink.statuses(2)) == other, "the other worker's site noticed"
    finally:
        shutting_down.set()
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await asyncio.to_thread(pool.stop_sites)


async def test_a_publish_its_worker_cannot_carry_out_fails_and_says_so(
        mosquitto: Mosquitto) -> None:
    """A publish sent to a worker that dies before answering, and one sent once the worker
    is gone (nothing starts it again here): both are answered failed and not connected, and
    both failures go out as the command's outcome, like a refusal inside a worker."""
    sink = Recorder()
    pool = WorkerPool(Settings(shutdown_timeout_s=2.0, log_format="json"), 2, sink=sink)
    pool.start()
    await pool.ready()
    loop = asyncio.get_running_loop()

    def publish(command_id: str) -> asyncio.Future[PublishResult]:
        answer: asyncio.Future[PublishResult] = loop.create_future()
        pool.tell(Forward(1, Publish(
            command_id=command_id, topic="pool/cmd", payload=b"x", qos=1, retain=False,
            reply=lambda r: loop.call_soon_threadsafe(answer.set_result, r))))
        return answer

    try:
        pool.tell(Apply((spec(1, mosquitto),)))
        await sink.until(lambda: "connected" in sink.statuses(1), "site 1")
        hosting = pool.worker_of(1)
        assert hosting is not None
        pid = pool.workers()[hosting].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # it reads nothing more: the publish waits in the channel
        in_flight = publish("in-flight")
        os.kill(pid, signal.SIGKILL)
        results = [await asyncio.wait_for(in_flight, 10)]
        results.append(await asyncio.wait_for(publish("after"), 10))
        assert [(r.command_id, r.outcome, r.connected, r.error) for r in results] == [
            ("in-flight", "failed", False, "the site's worker stopped"),
            ("after", "failed", False, "site is not running")]
        with sink.changed:
            outcomes = [e for e in sink.events if isinstance(e, CommandOutcome)]
        assert [(e.command_id, e.site_id, e.outcome, e.error) for e in outcomes] == [
            ("in-flight", 1, "failed", "the site's worker stopped"),
            ("after", 1, "failed", "site is not running")]
    finally:
        await asyncio.to_thread(pool.stop_sites)
