"""The device actors of one site, hosted on the site actor's thread.

Who exists, spawning on discovery, and delivery to them. A device actor has no thread of
its own: the roster runs its ``on_receive`` for each message, one at a time and in order,
on the site actor's thread — a drain's heartbeats are one call per device, and a device's
timer comes back through the site's mailbox as ``ToDevice``. A device whose ``on_receive``
raises is contained like a crashed actor: logged, stopped, and replaced by a fresh one that
starts from the state it had (the failed message is lost, the rest of the site goes on).

Discovery stops at ``max_devices`` (with one warning), so a misbehaving publisher cannot
grow the roster without bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from sitelink.actors.clock import BaseClock, Target
from sitelink.actors.device import DeviceActor, DeviceInfo, DeviceState, Heard, HeardBatch
from sitelink.actors.site_messages import ToDevice
from sitelink.events import DeviceDiscovered, DeviceKey, EventSink

log = structlog.get_logger(__name__)


class _ViaSite:
    """A hosted device's inbox: what is told to it goes through its site actor's mailbox."""

    __slots__ = ("key", "site")

    def __init__(self, site: Target, key: DeviceKey) -> None:
        self.site = site
        self.key = key

    def tell(self, message: Any) -> None:
        self.site.tell(ToDevice(device=self.key, message=message))


class DeviceRoster:
    def __init__(
        self,
        *,
        clock: BaseClock,
        sink: EventSink,
        max_devices: int,
        site: Target,
    ) -> None:
        self.clock = clock
        self.sink = sink
        self.max_devices = max_devices
        self._site = site  # the site actor's inbox, where hosted devices' messages go
        self._devices: dict[DeviceKey, DeviceActor] = {}
        self._capped_warned = False
        self.failures = 0

    def __len__(self) -> int:
        return len(self._devices)

    def __contains__(self, key: object) -> bool:
        return key in self._devices

    def get(self, key: DeviceKey) -> DeviceActor | None:
        return self._devices.get(key)

    def infos(self) -> tuple[DeviceInfo, ...]:
        return tuple(device.info() for device in self._devices.values())

    def spawn(self, state: DeviceState, *, site_up: bool, restarts: int = 0) -> DeviceActor:
        device = DeviceActor(state, clock=self.clock, sink=self.sink, site_up=site_up,
                             inbox=_ViaSite(self._site, state.key), restarts=restarts)
        self._devices[state.key] = device
        device.on_start()
        return device

    def deliver(self, per_device: dict[DeviceKey, list[Heard]], *, site_up: bool,
                offline_after_s: float) -> None:
        """One ``HeardBatch`` per device; a device heard for the first time is discovered."""
        for key, items in per_device.items():
            device = self._devices.get(key) or self._discover(key, items, site_up,
                                                              offline_after_s)
            if device is not None:
                self._run(device, HeardBatch(items=tuple(items)))

    def _discover(self, key: DeviceKey, items: Sequence[Heard], site_up: bool,
                  offline_after_s: float) -> DeviceActor | None:
        if len(self._devices) >= self.max_devices:
            if not self._capped_warned:
                self._capped_warned = True
                log.warning("device limit reached; discovery stopped", limit=self.max_devices)
            return None
        first = items[0]
        self.sink.publish(DeviceDiscovered(device=key, model=first.model, gateway=first.gateway,
                                           at=first.at))
        state = DeviceState(key=key, model=first.model, gateway=first.gateway,
                            offline_after_s=offline_after_s)
        return self.spawn(state, site_up=site_up)

    def tell(self, key: DeviceKey, message: Any) -> None:
        """Run one message on one device now (a device's timer, an operator's change)."""
        device = self._devices.get(key)
        if device is not None:
            self._run(device, message)

    def tell_all(self, message: Any) -> None:
        for device in list(self._devices.values()):
            self._run(device, message)

    def forget(self, key: DeviceKey) -> None:
        device = self._devices.pop(key, None)
        if device is not None:
            device.on_stop()

    def stop_all(self) -> None:
        devices, self._devices = self._devices, {}
        for device in devices.values():
            device.on_stop()

    def _run(self, device: DeviceActor, message: Any) -> None:
        try:
            device.on_receive(message)
        except Exception:
            self.failures += 1
            log.exception("device actor failed; restarting it", device=device.key.serial,
                          message=type(message).__name__)
            self._restart(device)

    def _restart(self, failed: DeviceActor) -> None:
        try:
            failed.on_stop()
        finally:
            if self._devices.get(failed.key) is failed:
                self.spawn(failed.state(), site_up=failed.site_up,
                           restarts=failed.restarts + 1)
