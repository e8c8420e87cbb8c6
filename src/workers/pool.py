"""The main process's side of its site workers: who hosts which site, what each was told,
and a new worker when one dies.

``tell`` takes the supervisor's messages (``Apply``/``Upsert``/``Remove``/``Forward``), as
the in-process host does, and sends each worker its part. The last desired state of every
site (and the stored devices of the last ``Apply`` that carried them) is kept here, so a
worker started again is given its sites without asking storage; the other workers are
not told anything and their sites do not notice. ``watch`` (a loop task) starts a dead
worker again after a backoff (0 s, 1 s, 3 s, 7 s, … at most 30 s; a worker that ran a
minute starts the count afresh). ``stop_sites`` has every worker's sites say goodbye in
parallel within the shutdown timeout, then reaps the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import time
from typing import Any

import msgspec
import structlog

from sitelink.actors.device import DeviceState
from sitelink.actors.site_messages import Publish, SiteSpec
from sitelink.actors.supervisor import Apply, Forward, Remove, Upsert
from sitelink.api.cluster_answers import WorkerAnswer
from sitelink.settings import Settings
from sitelink.workers.assign import worker_for
from sitelink.workers.frames import Command, Goodbye
from sitelink.workers.link import BatchSink, WorkerLink
from sitelink.workers.tree import Node, node

log = structlog.get_logger(__name__)

WATCH_INTERVAL_S = 1.0
RESTART_MAX_S = 30.0
STABLE_S = 60.0
START_TIMEOUT_S = 30.0  # a worker not ready by then is late; the instance starts all the same
EXIT_GRACE_S = 5.0  # beyond the shutdown timeout, for a worker's own exit


class WorkerPool:
    def __init__(self, settings: Settings, workers: int, *, sink: BatchSink) -> None:
        self.settings = settings
        self.links = [WorkerLink(i, workers, settings, sink, self._exited)
                      for i in range(workers)]
        self.specs: dict[int, SiteSpec] = {}
        self.devices: dict[int, tuple[DeviceState, ...]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._died = asyncio.Event()
        self._stopping = False
        self.started_at: float | None = None  # when start() started the workers

    @property
    def running(self) -> bool:
        return all(link.alive for link in self.links)

    @property
    def restarts(self) -> int:
        return sum(link.restarts for link in self.links)

    def start(self) -> None:
        """Every worker started (on the loop; each says Ready when it runs)."""
        self._loop = asyncio.get_running_loop()
        self.started_at = time.time()
        for link in self.links:
            link.state = "starting"
            link.spawn()

    async def ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every worker runs (said Ready) or is gone: the instance is started when its
        sites can connect, as with sites in-process (a worker imports for a second or so)."""
        deadline = time.monotonic() + timeout_s
        for link in self.links:
            left = max(0.0, deadline - time.monotonic())
            if not await asyncio.to_thread(link.ready.wait, left):
                log.error("a site worker did not start in time", worker=link.index,
                          timeout_s=timeout_s)

    def worker_of(self, site_id: int) -> int | None:
        return worker_for(site_id, len(self.links)) if site_id in self.specs else None

    def workers(self) -> list[WorkerAnswer]:
        counts = [0] * len(self.links)  # the sites each runs: its enabled ones
        for site_id, spec in self.specs.items():
            counts[worker_for(site_id, len(self.links))] += spec.is_enabled
        return [WorkerAnswer(worker=link.index, pid=link.pid, sites=counts[link.index],
                             state=link.state, restarts=link.restarts) for link in self.links]

    # --- commands ------------------------------------------------------------------------------

    def tell(self, message: Any) -> None:
        match message:
            case Apply(specs=specs, devices=devices):
                self.specs = {spec.site_id: spec for spec in specs}
                self.devices = {i: d for i, d in self.devices.items() if i in self.specs}
                self.devices.update(devices)
                for link in self.links:
                    self._apply(link)
            case Upsert(spec=spec, devices=devices):
                self.specs[spec.site_id] = spec
                if devices:  # for a new worker after a crash, as with ``Apply``
                    self.devices[spec.site_id] = devices
                self._send(spec.site_id, message)
            case Remove(site_id=site_id):
                self.specs.pop(site_id, None)
                self.devices.pop(site_id, None)
                self._send(site_id, message)
            case Forward(site_id=site_id, message=Publish(reply=reply) as publish) if reply:
                link = self._link(site_id)
                request = link.expect_reply(reply, publish.command_id, site_id)
                inner = Forward(site_id, msgspec.structs.replace(publish, reply=None))
                if not link.send(Command(request, pickle.dumps(inner))):
                    link.refuse(request, "site is not running")
            case Forward(site_id=site_id):
                self._send(site_id, message)

    def _link(self, site_id: int) -> WorkerLink:
        return self.links[worker_for(site_id, len(self.links))]

    def _send(self, site_id: int, message: Any) -> None:
        self._link(site_id).send(Command(0, pickle.dumps(message)))

    def _apply(self, link: WorkerLink) -> None:
        """The worker's whole share of the desired state."""
        n = len(self.links)
        mine = tuple(s for i, s in self.specs.items() if worker_for(i, n) == link.index)
        devices = {s.site_id: self.devices[s.site_id] for s in mine if s.site_id in self.devices}
        link.send(Command(0, pickle.dumps(Apply(mine, devices))))

    # --- supervision ---------------------------------------------------------------------------

    def _exited(self, link: WorkerLink) -> None:
        """A worker's channel ended (its reader thread)."""
        if self._stopping:
            link.state = "stopped"
            return
        link.state = "restarting"
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: we are stopping
                self._loop.call_soon_threadsafe(self._died.set)

    async def watch(self, shutting_down: asyncio.Event) -> None:
        """Starts a new worker in place of each one that died (loop task)."""
        revivals: dict[int, asyncio.Task[None]] = {}
        try:
            while not shutting_down.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._died.wait(), WATCH_INTERVAL_S)
                self._died.clear()
                for link in self.links:
                    task = revivals.get(link.index)
                    if not link.alive and (task is None or task.done()):
                        revivals[link.index] = asyncio.get_running_loop().create_task(
                            self._revive(link, shutting_down), name=f"revive-worker-{link.index}")
        finally:
            for task in revivals.values():
                task.cancel()

    async def _revive(self, link: WorkerLink, shutting_down: asyncio.Event) -> None:
        if link.started_at is not None and time.time() - link.started_at > STABLE_S:
            link.failures = 0  # it ran for a while: a new failure, not a crash loop
        link.failures += 1
        delay = min(2.0 ** (link.failures - 1) - 1.0, RESTART_MAX_S)
        code = await asyncio.to_thread(_reap, link)
        log.error("a site worker has died; starting it again", worker=link.index, pid=link.pid,
                  exit_status=code, restart_in_s=delay, restarts=link.restarts)
        await asyncio.sleep(delay)  # a backoff of our own, not a wait for a timer
        if shutting_down.is_set():
            return
        try:
            await asyncio.to_thread(link.spawn)
        except Exception:
            log.exception("could not start a site worker", worker=link.index)
            self._died.set()
            return
        link.restarts += 1
        link.state = "starting"
        self._apply(link)
        log.warning("a site worker is running again", worker=link.index, pid=link.pid,
                    restarts=link.restarts)

    def stop_sites(self) -> None:
        """Every worker's sites say goodbye in parallel, then the workers exit (blocking)."""
        self._stopping = True
        timeout = self.settings.shutdown_timeout_s
        deadline = time.monotonic() + timeout + EXIT_GRACE_S
        for link in self.links:
            if not link.send(Goodbye()):
                link.state = "stopped"
        for link in self.links:
            if not link.stopped.wait(max(0.0, deadline - time.monotonic())):
                log.warning("a site worker did not stop within the shutdown timeout",
                            worker=link.index)
        for link in self.links:
            link.wait_exit(max(0.5, deadline - time.monotonic()))
            link.state = "stopped"

    # --- the actor tree ------------------------------------------------------------------------

    def tree(self, instance_id: str, timeout_s: float = 2.0) -> list[Node]:
        """Root → workers → sites → devices (blocking, ≤ ``timeout_s``: asked in parallel);
        ``instance_id``: this instance's name in the cluster, the root's."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(self.links)) as pool:
            answers = list(pool.map(lambda link: link.inspect(timeout_s), self.links))
        root = node("root", "supervisor", "running" if self.running else "degraded",
                    f"sitelink:{instance_id}", restarts=self.restarts, started_at=self.started_at,
                    processed=sum(answer.processed for answer in answers if answer is not None))
        for link, answer in zip(self.links, answers, strict=True):
            state = link.state if answer is not None or link.state != "running" else "unresponsive"
            worker = node("worker", f"worker-{link.index}", state, f"worker:{link.index}",
                          restarts=link.restarts, started_at=link.started_at, pid=link.pid)
            if answer is not None:
                worker["processed"] = answer.processed
                worker["children"] = answer.sites
            root["children"].append(worker)
        return [root]


def _reap(link: WorkerLink) -> int | None:
    link.wait_exit(5.0)
    return link.process.returncode if link.process is not None else None
