"""Commands carried out by a site's owner, whichever instance the operator asked.

Runs on the asyncio loop. On the instance that got the request:

- a command for a site's actor (reconnect, discovery, forget a device, a device's offline
  time) is told to the actor at once when this instance owns the site, as alone; either way
  it is appended to the event log (``SiteCommand``), so the owner carries it out when it is
  elsewhere and every instance notes what it shows (a discovery under way, a device gone);
- a publish is carried out here when this instance owns the site; otherwise it goes to the
  log (``PublishRequested``) and the answer waits for the owner's ``PublishAnswered`` (the
  owner waits for the broker's acknowledgement as it would for its own request), or for the
  same timeout as a local publish.

On every instance, ``on_remote`` applies another instance's row: an actor's event updates
the read model (unless this instance owns the site: its own actor is the authority); a
site change reloads the site and, on its owner, connects, reconnects or stops it at once
(no waiting for the reconcile); a command is carried out by the owner; a change of the
alert configuration is reloaded by the alert service (``AlertService.apply_remote``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from sitelink.actors import lifecycle as lc
from sitelink.actors.site_messages import (
    Discover,
    ForgetDevice,
    Publish,
    PublishResult,
    SetDeviceOfflineAfter,
)
from sitelink.actors.supervisor import Forward
from sitelink.alerts.service import AlertService
from sitelink.cluster import logged
from sitelink.cluster.replication import Replication
from sitelink.errors import NotFound
from sitelink.events import DeviceKey
from sitelink.ownership import Ownership
from sitelink.readmodel import ReadModel

log = structlog.get_logger(__name__)


class Host(Protocol):
    """What carrying out a command needs of the runtime (loop only)."""

    read_model: ReadModel
    ownership: Ownership
    alerts: AlertService | None

    def tell_here(self, message: Any) -> None: ...
    def forget_device(self, key: DeviceKey) -> None: ...
    async def site_changed(self, site_id: int, change: str, *, announce: bool = True) -> None: ...
    def site_removed(self, site_id: int, *, announce: bool = True) -> None: ...


async def publish_here(
    tell: Callable[[Any], None], site_id: int, command_id: str, topic: str, payload: bytes,
    qos: int, retain: bool, timeout_s: float,
) -> PublishResult | None:
    """Publish through this instance's actor of the site; None when no answer came within
    ``timeout_s``."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[PublishResult] = loop.create_future()

    def reply(result: PublishResult) -> None:  # runs on the SiteActor's thread
        loop.call_soon_threadsafe(_settle, answer, result)

    tell(Forward(site_id, Publish(command_id=command_id, topic=topic, payload=payload,
                                  qos=qos, retain=retain, reply=reply)))
    try:
        return await asyncio.wait_for(answer, timeout_s)
    except TimeoutError:
        return None


def _settle(future: asyncio.Future[PublishResult], result: PublishResult) -> None:
    if not future.done():
        future.set_result(result)


class OwnerCommands:
    def __init__(self, host: Host, replication: Replication) -> None:
        self.host = host
        self.replication = replication
        self._waiting: dict[str, asyncio.Future[PublishResult]] = {}
        self._running: set[asyncio.Task[None]] = set()
        replication.on_remote = self.on_remote

    # --- the instance that got the request ----------------------------------------------------

    def tell_site(self, site_id: int, message: Any) -> None:
        command = _command(site_id, message)
        if self.host.ownership.owns(site_id):
            self.host.tell_here(Forward(site_id, message))
        if command is not None:
            self.replication.send(command)

    async def publish(self, site_id: int, command_id: str, topic: str, payload: bytes, qos: int,
                      retain: bool, timeout_s: float) -> PublishResult | None:
        if self.host.ownership.owns(site_id):
            return await publish_here(self.host.tell_here, site_id, command_id, topic, payload,
                                      qos, retain, timeout_s)
        answer: asyncio.Future[PublishResult] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = answer
        self.replication.send(logged.PublishRequested(
            command_id=command_id, site_id=site_id, topic=topic, payload=payload, qos=qos,
            retain=retain, timeout_s=timeout_s))
        try:
            return await asyncio.wait_for(answer, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(command_id, None)

    # --- every instance: another instance's rows ---------------------------------------------

    def rebuild(self, state: logged.LoggedState) -> None:
        """A site's or device's latest state at this instance's start (sites it does not run)."""
        site_id = logged.site_of(state)
        if site_id is not None and not self.host.ownership.owns(site_id):
            self.host.read_model.apply(state)

    async def on_remote(self, state: logged.LoggedState) -> None:
        host = self.host
        match state:
            case logged.SiteChangeLogged(site_id=site_id, change="deleted"):
                host.site_removed(site_id, announce=False)
            case logged.SiteChangeLogged(site_id=site_id, change=change):
                with contextlib.suppress(NotFound):  # deleted since: its own row follows
                    await host.site_changed(site_id, change, announce=False)
            case logged.SiteCommand():
                self._command(state)
            case logged.AlertConfigChanged():
                if host.alerts is not None:  # else: not started yet, it reads the database
                    await host.alerts.apply_remote(state)
            case logged.PublishRequested(site_id=site_id) if host.ownership.owns(site_id):
                self._start(self._publish_for(state))
            case logged.PublishAnswered(command_id=command_id):
                answer = self._waiting.get(command_id)
                if answer is not None:
                    _settle(answer, PublishResult(command_id=command_id, outcome=state.outcome,
                                                  error=state.error, connected=state.connected))
            case logged.PublishRequested():
                pass  # for another instance's site
            case _:
                about = logged.site_of(state)
                if about is None or not host.ownership.owns(about):
                    host.read_model.apply(state)

    def _command(self, command: logged.SiteCommand) -> None:
        host = self.host
        message: Any
        match command:
            case logged.SiteCommand(action="discover", seconds=seconds, at=at):
                host.read_model.discovery_started(command.site_id, at, seconds or 0.0)
                message = Discover(seconds=seconds or 0.0)
            case logged.SiteCommand(action="forget_device", device=DeviceKey() as key):
                host.forget_device(key)
                message = ForgetDevice(device=key)
            case logged.SiteCommand(action="offline_after", device=DeviceKey() as key):
                message = SetDeviceOfflineAfter(device=key, seconds=command.seconds)
            case logged.SiteCommand(action="reconnect"):
                message = lc.Reconnect()
            case _:
                log.warning("a command without what it needs skipped", action=command.action)
                return
        if host.ownership.owns(command.site_id):
            host.tell_here(Forward(command.site_id, message))

    async def _publish_for(self, request: logged.PublishRequested) -> None:
        result = await publish_here(self.host.tell_here, request.site_id, request.command_id,
                                    request.topic, request.payload, request.qos, request.retain,
                                    request.timeout_s)
        if result is not None:
            self.replication.send(logged.PublishAnswered(
                command_id=request.command_id, site_id=request.site_id,
                outcome=result.outcome, error=result.error, connected=result.connected))

    def _start(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("carrying out another instance's command failed")

        task = asyncio.get_running_loop().create_task(run())
        self._running.add(task)
        task.add_done_callback(self._running.discard)


def _command(site_id: int, message: Any) -> logged.SiteCommand | None:
    """The log's form of a message for a site's actor (None: one that only this instance's
    actor needs)."""
    now = time.time()
    match message:
        case lc.Reconnect():
            return logged.SiteCommand(site_id=site_id, action="reconnect", at=now)
        case Discover(seconds=seconds):
            return logged.SiteCommand(site_id=site_id, action="discover", seconds=seconds, at=now)
        case ForgetDevice(device=key):
            return logged.SiteCommand(site_id=site_id, action="forget_device", device=key,
                                      at=now)
        case SetDeviceOfflineAfter(device=key, seconds=seconds):
            return logged.SiteCommand(site_id=site_id, action="offline_after", device=key,
                                      seconds=seconds, at=now)
    return None


