"""SiteActor: one site's MQTT connection, its lifecycle, its retry timers and its devices.

Everything here runs in the actor's turns on the site thread (``shared_thread``). The actor
feeds events into the pure ``lifecycle.transition`` and performs the effects it returns;
paho talks to it only through messages from its ``MqttPort``. It never blocks (its
neighbours would wait too) and does no database I/O.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

import structlog

from sitelink.actors import lifecycle as lc
from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import BaseClock, Fired, Target, Timers
from sitelink.actors.commands import PendingCommands
from sitelink.actors.device import DeviceState, SetOfflineAfter, SiteDown, SiteOfflineAfter, SiteUp
from sitelink.actors.ingest import DiscoveryWindow, Ingest
from sitelink.actors.mqtt_port import (
    MessagesReady,
    MqttPort,
    PahoPort,
    PortConnected,
    PortConnectFailed,
    PortDisconnected,
    PortPublished,
    PortSubscribed,
)
from sitelink.actors.roster import DeviceRoster
from sitelink.actors.shared_thread import SharedThreadActor
from sitelink.actors.site_messages import (
    Configure,
    Discover,
    ForgetDevice,
    Inspect,
    Publish,
    SetDeviceOfflineAfter,
    Shutdown,
    SiteInfo,
    SiteSpec,
    ToDevice,
)
from sitelink.errors import LifecycleError
from sitelink.events import (
    ConnectionEventOccurred,
    DiscoveryFinished,
    EventSink,
    SiteStatusChanged,
)
from sitelink.payloads.limits import DEFAULT_MAX_SENSORS

log = structlog.get_logger(__name__)

DISCOVERY = "discovery"
CONNECT_SLOT = "connect_slot"
STOP_FALLBACK = "stop_fallback"


class SiteActor(SharedThreadActor):
    # Sites take turns on one thread resting 50 ms between rounds (``shared_thread``).
    thread_name = "site"
    window_s = 0.05
    lazy = (MessagesReady, ToDevice)  # heartbeats and device timers; a site's timers are not

    def __init__(
        self,
        spec: SiteSpec,
        *,
        clock: BaseClock,
        sink: EventSink,
        policy: RetryPolicy,
        limiter: ConnectRateLimiter,
        max_payload: int = 262_144,
        max_devices: int = 10_000,
        max_sensors: int = DEFAULT_MAX_SENSORS,
        devices: tuple[DeviceState, ...] = (),
        port_factory: Callable[[Target, Callable[[], float]], MqttPort] | None = None,
        rng: random.Random | None = None,
        on_crash: Callable[[str], None] | None = None,
        inbox: Target | None = None,
    ) -> None:
        """``inbox`` is where the actor's timers and its devices' messages come back: its own
        ref unless given (tests give one that runs ``on_receive`` synchronously)."""
        super().__init__()
        self.spec = spec
        self.clock = clock
        self.sink = sink
        self.policy = policy
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.on_crash = on_crash
        self.inbox: Target = inbox or self.actor_ref
        factory = port_factory or (lambda owner, now: PahoPort(owner, now))
        self.port: MqttPort = factory(self.actor_ref, clock.now)
        self.conn = lc.Conn()
        self.attempt = 0
        self.link_up = False  # CONNACK seen on the current attempt
        self.sub_request = 0
        self.subscribed: set[str] = set()
        self.timers = Timers(clock, self.inbox)
        self.ingest = Ingest(spec.site_id, spec.code, spec.subscriptions, max_payload,
                             max_sensors)
        self.initial_devices = devices
        self.devices = DeviceRoster(clock=clock, sink=sink, max_devices=max_devices,
                                    site=self.inbox)
        self.pending = PendingCommands(spec.site_id, sink, clock.now)
        self.processed = 0
        self.started_at = clock.now()

    # --- pykka hooks ------------------------------------------------------------------------

    def on_start(self) -> None:
        structlog.contextvars.bind_contextvars(site=self.spec.code)  # in this actor's context
        try:
            for state in self.initial_devices:
                self.devices.spawn(state, site_up=False)
            self._emit()
            if self.spec.is_enabled:
                self._feed(lc.Start())
        except Exception:
            # pykka skips on_failure when on_start raises: report it here, or the
            # supervisor would keep a dead child and never restart it.
            self.on_failure(*sys.exc_info())
            raise

    def on_stop(self) -> None:
        self._teardown()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._teardown()
        if self.on_crash is not None:
            self.on_crash(f"{exception_type.__name__}: {exception_value}")

    def on_receive(self, message: Any) -> Any:
        self.processed += 1
        match message:
            case ToDevice(device=key, message=inner):
                self.devices.tell(key, inner)
            case MessagesReady():
                # Drained whatever attempt it names: the port tells only when its buffer was
                # empty, so dropping a late one would leave the buffer full and the site deaf.
                self._ingest()
            case PortConnected(attempt=a) if a == self.attempt:
                self.link_up = True
                self._feed(lc.Connected())
            case PortConnectFailed(attempt=a, reason=reason) if a == self.attempt:
                self._feed(lc.ConnectFailed(reason=reason, u=self.rng.random()))
            case PortDisconnected(attempt=a, reason=reason, takeover_confirmed=confirmed) if (
                a == self.attempt
            ):
                self.link_up = False
                self.pending.fail_all("Connection lost")
                self._feed(lc.ConnectionLost(reason=reason, takeover_confirmed=confirmed,
                                             u=self.rng.random(),
                                             client_id=self.spec.broker.client_id))
            case PortSubscribed(attempt=a, request=request, refused=refused) if a == self.attempt:
                self._subscribed(request, refused)
            case PortPublished(attempt=a, mid=mid, error=error) if a == self.attempt:
                self.pending.answered(mid, error)
            case Fired():
                self._fired(message)
            case lc.Start() | lc.Stop() | lc.Reconnect():
                try:
                    return self._feed(message)
                except LifecycleError as exc:  # an operator asked for something impossible
                    log.warning("command refused", error=str(exc))
                    return self.conn.state
            case Configure(spec=spec):
                self._configure(spec)
            case Publish():
                self._publish(message)
            case Discover(seconds=seconds):
                self._discover(seconds)
            case SetDeviceOfflineAfter(device=key, seconds=seconds):
                self.devices.tell(key, SetOfflineAfter(seconds=seconds))
            case ForgetDevice(device=key):
                self.devices.forget(key)
            case Inspect():
                return self._info()
            case Shutdown():
                self._feed(lc.Stop())
                self._teardown()
            case (
                PortConnected() | PortConnectFailed() | PortDisconnected() | PortSubscribed()
                | PortPublished()
            ):
                pass  # from an attempt given up on: stale by design
            case _:  # as pykka does: say so, never drop silently (the type only: no secrets)
                log.warning("unknown message dropped", message=type(message).__name__)
        return None

    # --- the lifecycle ----------------------------------------------------------------------

    def _feed(self, event: lc.LifecycleEvent) -> lc.State:
        was_up = self.conn.state is lc.State.CONNECTED
        self.conn, effects = lc.transition(self.conn, event, self.clock.now(), self.policy)
        for effect in effects:
            self._perform(effect)
        is_up = self.conn.state is lc.State.CONNECTED
        if was_up != is_up:
            now = self.clock.now()
            self.devices.tell_all(SiteUp(at=now) if is_up else SiteDown(at=now))
        return self.conn.state

    def _perform(self, effect: lc.Effect) -> None:
        match effect:
            case lc.Connect():
                wait = self.limiter.reserve(self.clock.monotonic())
                if wait > 0:
                    self.timers.arm(CONNECT_SLOT, wait, None)
                else:
                    self._begin_attempt()
            case lc.Disconnect():
                self._disconnect()
            case lc.Subscribe():
                self._subscribe_all()
            case lc.Schedule(timer=name, delay_s=delay, event=event):
                self.timers.arm(name, delay, event)
            case lc.Cancel(timer=name):
                self.timers.cancel(name)
                if name == lc.CONNECT_TIMEOUT:
                    self.timers.cancel(CONNECT_SLOT)
            case lc.Emit():
                self._emit()
            case lc.Record(kind=kind, reason=reason):
                self.sink.publish(
                    ConnectionEventOccurred(
                        site_id=self.spec.site_id, kind=kind, reason=reason, at=self.clock.now()
                    )
                )

    def _begin_attempt(self) -> None:
        self.attempt += 1
        self.link_up = False
        self.subscribed.clear()
        self.port.connect(self.spec.broker, self.attempt)
        timeout = lc.ConnectTimedOut(u=self.rng.random())
        self.timers.arm(lc.CONNECT_TIMEOUT, self.policy.connect_timeout_s, timeout)

    def _disconnect(self) -> None:
        """A stop waits for the dropped client's word; another attempt makes it stale."""
        had_link = self.link_up
        self.port.disconnect(self._goodbye())
        self.link_up = False
        self.pending.fail_all("Connection closed")
        if self.conn.state is lc.State.DISABLED:
            if had_link:  # paho will say when the broker has us gone; don't wait forever
                self.timers.arm(STOP_FALLBACK, self.policy.connect_timeout_s, lc.Stopped())
            else:
                self.timers.arm(STOP_FALLBACK, 0, lc.Stopped())
        else:
            self.attempt += 1  # even while waiting for a slot: its late "disconnected" is no loss

    def _subscribe_all(self) -> None:
        self.sub_request += 1
        filters = self._wanted_filters()
        self.subscribed = set(f for f, _ in filters)
        if filters:
            self.port.subscribe(filters, self.sub_request)
        else:
            self._subscribed(self.sub_request, "")

    def _subscribed(self, request: int, refused: str) -> None:
        if refused:
            reason = f"Subscription refused: {refused}"
            if self.conn.state is lc.State.CONNECTED:
                self._feed(lc.ConnectionLost(reason=reason, u=self.rng.random()))
            else:
                self._feed(lc.ConnectFailed(reason=reason, u=self.rng.random()))
            return
        if request == self.sub_request and self.conn.state is lc.State.CONNECTING:
            if self.spec.manager_topic:
                self.port.publish(self.spec.manager_topic, b"online", 1, True)
            self._feed(lc.Subscribed())

    def _wanted_filters(self) -> list[tuple[str, int]]:
        code = self.spec.code
        wanted = {s.mqtt_filter(code): s.qos for s in self.spec.subscriptions if s.is_active}
        if self.ingest.discovery is not None:
            wanted[f"{self.spec.code}/#"] = 0
        return sorted(wanted.items())

    def _fired(self, fired: Fired) -> None:
        if not self.timers.take(fired):
            return  # cancelled while the message was in flight
        name, event = fired.timer, fired.event
        if name == CONNECT_SLOT:
            if self.conn.state is lc.State.CONNECTING:
                self._begin_attempt()
        elif name == DISCOVERY:
            self._end_discovery()
        else:
            self._feed(event)

    # --- configuration, publishing, discovery ----------------------------------------------------

    def _configure(self, spec: SiteSpec) -> None:
        old, self.spec = self.spec, spec
        self.ingest.set_subscriptions(spec.subscriptions)
        if spec.offline_after_s != old.offline_after_s:
            self.devices.tell_all(SiteOfflineAfter(seconds=spec.offline_after_s))
        if spec.is_enabled and not old.is_enabled:
            self._feed(lc.Start())
        elif not spec.is_enabled and old.is_enabled:
            self._feed(lc.Stop())
        elif spec.broker != old.broker:
            self._feed(lc.ConfigChanged())
        elif self.conn.state is lc.State.CONNECTED:
            self._resubscribe_live()
        self._emit()

    def _resubscribe_live(self) -> None:
        wanted = dict(self._wanted_filters())
        gone = sorted(self.subscribed - wanted.keys())
        new = sorted((f, q) for f, q in wanted.items() if f not in self.subscribed)
        if gone:
            self.port.unsubscribe(gone)
        if new:
            self.sub_request += 1
            self.port.subscribe(new, self.sub_request)
        self.subscribed = set(wanted)

    def _publish(self, p: Publish) -> None:
        if self.conn.state is not lc.State.CONNECTED:
            self.pending.refuse(p, "not connected", connected=False)
            return
        mid = self.port.publish(p.topic, p.payload, p.qos, p.retain)
        if mid < 0:
            self.pending.refuse(p, "publish refused by the client")
            return
        self.pending.sent(p, mid)

    def _discover(self, seconds: float) -> None:
        self.ingest.discovery = DiscoveryWindow(self.spec.code, self.clock.now())
        self.timers.arm(DISCOVERY, seconds, None)
        if self.conn.state is lc.State.CONNECTED:
            self._resubscribe_live()

    def _end_discovery(self) -> None:
        window, self.ingest.discovery = self.ingest.discovery, None
        if window is None:
            return
        if self.conn.state is lc.State.CONNECTED:
            self._resubscribe_live()
        self.sink.publish(DiscoveryFinished(site_id=self.spec.site_id, topics=window.result(),
                                            started_at=window.started_at, at=self.clock.now()))

    # --- devices ---------------------------------------------------------------------------

    def _ingest(self) -> None:
        batch = self.ingest.process(self.port.drain())
        self.devices.deliver(batch.per_device, site_up=self.conn.state is lc.State.CONNECTED,
                             offline_after_s=self.spec.offline_after_s)
        rebirths = 0
        if self.conn.state is lc.State.CONNECTED:
            for topic, payload in batch.publish:  # Sparkplug rebirth requests (NCMD)
                rebirths += self.port.publish(topic, payload, 0, False) >= 0
        self.sink.publish(batch.traffic(self.spec.site_id, rebirths))

    # --- reporting and teardown -------------------------------------------------------------

    def _emit(self) -> None:
        c, s = self.conn, self.spec
        self.sink.publish(
            SiteStatusChanged(
                site_id=s.site_id, code=s.code, status=c.state, is_enabled=s.is_enabled,
                error_message=c.error_message, retry_count=c.retry_count,
                next_retry_at=c.next_retry_at, client_id=s.broker.client_id,
                last_connected_at=c.connected_at,
                topics=tuple(sorted(f for f, _ in self._wanted_filters())),
                handler_running=self.actor_ref.is_alive(), at=self.clock.now(),
            )
        )

    def _info(self) -> SiteInfo:
        return SiteInfo(name=self.spec.code, state=self.conn.state.value, processed=self.processed,
                        started_at=self.started_at, devices=self.devices.infos())

    def _teardown(self) -> None:
        self.timers.cancel_all()
        self._disconnect_quietly()
        self.devices.stop_all()

    def _disconnect_quietly(self) -> None:
        try:
            self.port.disconnect(self._goodbye())
        except Exception:
            log.exception("disconnect during teardown failed")

    def _goodbye(self) -> tuple[str, bytes] | None:
        """What to publish before a clean disconnect: "offline" on our availability topic,
        as the will would have said it."""
        topic = self.spec.manager_topic
        return (topic, b"offline") if topic else None

