"""Proposal P1: device actors hosted on their site actor's thread (no thread per device).

Today every DeviceActor is a pykka ThreadingActor: one OS thread per device. Each heartbeat
is a ``tell`` that wakes that thread (a futex wake, a context switch and a GIL hand-off),
and 10,000 devices are 10,000 threads competing for one GIL: a cold start spends most of
its time starting threads, and the event loop and aiosqlite's threads wait for the GIL.

Here a device keeps its behaviour (the same ``DeviceActor.on_receive``, its own state,
messages processed one at a time, in order) but runs on its site actor's thread: the site
delivers a drain's heartbeats by calling the devices in turn, and a device's timer message
comes back through the site actor's mailbox (``ToDevice``). A failure in one device is
logged and contained. This module applies that to a running sitelink in memory (import it
before the server starts); it is a measuring prototype, not the implementation: a real one
would not build pykka actor objects at all, and would answer the actor tree itself.

With it, one more change that only matters once the actors stop starving the event loop:
the bridge handles the batches that queued up while it waited for the database with one
lookup of their discovered devices (instead of one database round trip per crossing).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from sitelink import bridge as _bridge
from sitelink.actors import device as _device
from sitelink.actors import roster as _roster
from sitelink.actors import site as _site

log = structlog.get_logger(__name__)


class ToDevice:
    """A message for one hosted device, carried by its site actor's mailbox."""

    __slots__ = ("key", "message")

    def __init__(self, key: Any, message: Any) -> None:
        self.key = key
        self.message = message


class _ViaSite:
    """A hosted device's inbox (timers tell it): forwards through the site actor."""

    __slots__ = ("key", "site")

    def __init__(self, site: Any, key: Any) -> None:
        self.site = site
        self.key = key

    def tell(self, message: Any) -> None:
        self.site.tell(ToDevice(self.key, message))


def _run(device: Any, message: Any) -> Any:
    try:
        return device.on_receive(message)
    except Exception:
        log.exception("hosted device failed", device=str(device.key))
        return None


def install() -> None:
    roster = _roster.DeviceRoster
    site = _site.SiteActor

    def spawn(self: Any, state: Any, *, site_up: bool) -> Any:
        device = _device.DeviceActor(state, clock=self.clock, sink=self.sink, site_up=site_up,
                                     site_code=self.site_code)
        device.inbox = _ViaSite(self.site_ref, state.key)
        device.on_start()
        self._refs[state.key] = device
        return device

    def deliver(self: Any, per_device: Any, *, site_up: bool, offline_after_s: float) -> None:
        heard = _device.HeardBatch
        for key, items in per_device.items():
            device = self._refs.get(key) or self._discover(key, items, site_up, offline_after_s)
            if device is not None:
                _run(device, heard(tuple(items)))

    def tell_all(self: Any, message: Any) -> None:
        for device in self._refs.values():
            _run(device, message)

    def tell(self: Any, key: Any, message: Any) -> None:
        device = self._refs.get(key)
        if device is not None:
            _run(device, message)

    def forget(self: Any, key: Any) -> None:
        device = self._refs.pop(key, None)
        if device is not None:
            device.on_stop()

    def stop_all(self: Any) -> None:
        devices, self._refs = self._refs, {}
        for device in devices.values():
            device.on_stop()

    for name, function in (("spawn", spawn), ("deliver", deliver), ("tell_all", tell_all),
                           ("tell", tell), ("forget", forget), ("stop_all", stop_all)):
        setattr(roster, name, function)

    site_init = site.__init__
    site_receive = site.on_receive

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        site_init(self, *args, **kwargs)
        self.devices.site_ref = self.actor_ref

    def on_receive(self: Any, message: Any) -> Any:
        if type(message) is ToDevice:
            device = self.devices._refs.get(message.key)
            return None if device is None else _run(device, message.message)
        return site_receive(self, message)

    site.__init__ = init  # type: ignore[method-assign]
    site.on_receive = on_receive  # type: ignore[method-assign]

    async def consume(self: Any) -> None:
        """The bridge, catching up: batches that queued while it waited for the database
        get one lookup of their discovered devices, then are handled in order as before."""
        while True:
            batches = [await self._queue.get()]
            while not self._queue.empty():
                batches.append(self._queue.get_nowait())
            discovered = [e for b in batches for e in b if isinstance(e, _bridge.DeviceDiscovered)]
            try:
                if discovered and self.writer is not None:
                    await self.writer.ensure_devices(discovered)
                for batch in batches:
                    for event in batch:
                        for type_, site_id, data in self.read_model.apply(event):
                            self.hub.publish(type_, site_id, data)
                    if self.writer is not None:
                        self.writer.submit(batch)
                    await asyncio.sleep(0)
            except Exception:
                log.exception("bridge failed to handle a batch")
            finally:
                for _ in batches:
                    self._queue.task_done()

    _bridge.Bridge._consume = consume  # type: ignore[method-assign]


install()
