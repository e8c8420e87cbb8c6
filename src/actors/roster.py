"""The device actors of one site: who exists, spawning on discovery, and fan-out to them.

Owned by a SiteActor and used on its thread. Discovery stops at ``max_devices`` (with one
warning), so a misbehaving publisher cannot spawn threads without bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pykka
import structlog

from sitelink.actors.clock import BaseClock
from sitelink.actors.device import DeviceActor, DeviceState, Heard, HeardBatch
from sitelink.events import DeviceDiscovered, DeviceKey, EventSink

log = structlog.get_logger(__name__)


class DeviceRoster:
    def __init__(
        self, *, clock: BaseClock, sink: EventSink, max_devices: int, site_code: str = ""
    ) -> None:
        self.clock = clock
        self.site_code = site_code
        self.sink = sink
        self.max_devices = max_devices
        self._refs: dict[DeviceKey, pykka.ActorRef[DeviceActor]] = {}
        self._capped_warned = False

    def __len__(self) -> int:
        return len(self._refs)

    def values(self) -> Iterator[pykka.ActorRef[DeviceActor]]:
        return iter(list(self._refs.values()))

    def get(self, key: DeviceKey) -> pykka.ActorRef[DeviceActor] | None:
        return self._refs.get(key)

    def spawn(self, state: DeviceState, *, site_up: bool) -> pykka.ActorRef[DeviceActor]:
        ref = DeviceActor.start(state, clock=self.clock, sink=self.sink, site_up=site_up,
                                site_code=self.site_code)
        self._refs[state.key] = ref
        return ref

    def deliver(self, per_device: dict[DeviceKey, list[Heard]], *, site_up: bool,
                offline_after_s: float) -> None:
        """One ``HeardBatch`` per device; a device heard for the first time is discovered."""
        for key, items in per_device.items():
            ref = self._refs.get(key) or self._discover(key, items, site_up, offline_after_s)
            if ref is not None:
                ref.tell(HeardBatch(tuple(items)))

    def _discover(self, key: DeviceKey, items: Sequence[Heard], site_up: bool,
                  offline_after_s: float) -> pykka.ActorRef[DeviceActor] | None:
        if len(self._refs) >= self.max_devices:
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

    def tell_all(self, message: Any) -> None:
        for ref in self._refs.values():
            ref.tell(message)

    def tell(self, key: DeviceKey, message: Any) -> None:
        ref = self._refs.get(key)
        if ref is not None:
            ref.tell(message)

    def forget(self, key: DeviceKey) -> None:
        ref = self._refs.pop(key, None)
        if ref is not None:
            ref.stop(block=False)

    def stop_all(self) -> None:
        refs, self._refs = self._refs, {}
        for ref in refs.values():
            ref.stop(block=False)
