"""Supervisor: the root actor. One SiteActor per site; restarts the ones that crash.

pykka has no supervision of its own: a SiteActor that raises in a ``tell`` handler stops,
after its ``on_failure`` hook tells us ``ChildCrashed``. We restart it with backoff
(1 s, 2 s, 4 s, … at most 30 s). A site that crashes ``CRASH_LIMIT`` times within
``CRASH_WINDOW_S`` stays down in ``error`` and says so, so that one poisoned site cannot
spin a core while the others go on untouched.

The supervisor never reads storage: the async side hands it the desired state (``Apply``
at start and at every reconcile, ``Upsert``/``Remove`` right after an API change). Rows
that cannot become a ``SiteSpec`` never get here (``sitelink.desired`` rejects them). A
SiteActor that cannot even be built counts as a crash of that site, never of the supervisor.
If the supervisor itself fails, ``on_failure`` stops its children (their client ids must be
free for the next supervisor) and calls ``on_death``; the runtime starts a new one.
Everything here runs on the supervisor's own thread.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pykka
import structlog

from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import BaseClock, Target
from sitelink.actors.commands import refuse
from sitelink.actors.device import DeviceState
from sitelink.actors.mqtt_port import MqttPort
from sitelink.actors.site import SiteActor
from sitelink.actors.site_messages import Configure, Publish, SiteSpec
from sitelink.events import ConnectionStatus, EventSink, SiteStatusChanged
from sitelink.payloads.limits import DEFAULT_MAX_SENSORS

log = structlog.get_logger(__name__)

CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
RESTART_MAX_S = 30.0
CHILD_STOP_TIMEOUT_S = 5.0


class Apply(msgspec.Struct, frozen=True):
    """The whole desired state: start what is missing, reconfigure what changed, stop
    sites that are gone. Devices are used only when a site actor is created."""

    specs: tuple[SiteSpec, ...]
    devices: dict[int, tuple[DeviceState, ...]] = {}


class Upsert(msgspec.Struct, frozen=True):
    """Start the site, or reconfigure it; ``devices`` are used only if it starts here."""

    spec: SiteSpec
    devices: tuple[DeviceState, ...] = ()


class Remove(msgspec.Struct, frozen=True):
    site_id: int


class Forward(msgspec.Struct, frozen=True):
    """Tell ``message`` to the actor of ``site_id``; a ``Publish`` to an unknown site is
    answered as not connected."""

    site_id: int
    message: Any


class ChildCrashed(msgspec.Struct, frozen=True):
    site_id: int
    error: str


class RestartDue(msgspec.Struct, frozen=True):
    site_id: int


class Describe(msgspec.Struct, frozen=True):
    """Asked: a ``SupervisorInfo`` for the actor tree and for shutdown."""


class SupervisorInfo(msgspec.Struct, frozen=True, kw_only=True):
    processed: int
    restarts: dict[int, int]
    started_at: float
    children: dict[int, Any]


class _Child(msgspec.Struct, kw_only=True):
    spec: SiteSpec
    ref: Any = None  # pykka.ActorRef[SiteActor] | None while waiting for a restart
    crashes: list[float] = []
    restarts: int = 0
    given_up: bool = False


class Supervisor(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        clock: BaseClock,
        sink: EventSink,
        policy: RetryPolicy,
        limiter: ConnectRateLimiter,
        max_payload: int,
        max_devices: int,
        max_sensors: int = DEFAULT_MAX_SENSORS,
        port_factory: Callable[[Target, Callable[[], float]], MqttPort] | None = None,
        site_class: type[SiteActor] = SiteActor,
        rng: random.Random | None = None,
        on_death: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.sink = sink
        self.policy = policy
        self.limiter = limiter
        self.max_payload = max_payload
        self.max_devices = max_devices
        self.max_sensors = max_sensors
        self.port_factory = port_factory
        self.site_class = site_class
        self.rng = rng or random.Random()
        self.on_death = on_death
        self.inbox: Target = self.actor_ref
        self.children: dict[int, _Child] = {}
        self.processed = 0
        self.started_at = clock.now()

    def on_receive(self, message: Any) -> Any:
        self.processed += 1
        match message:
            case Apply(specs=specs, devices=devices):
                wanted = {s.site_id for s in specs}
                for site_id in [i for i in self.children if i not in wanted]:
                    self._remove(site_id)
                for spec in specs:
                    self._upsert(spec, devices.get(spec.site_id, ()))
            case Upsert(spec=spec, devices=devices):
                self._upsert(spec, devices)
            case Remove(site_id=site_id):
                self._remove(site_id)
            case Forward(site_id=site_id, message=inner):
                child = self.children.get(site_id)
                told = child is not None and child.ref is not None and _tell(child.ref, inner)
                if not told and isinstance(inner, Publish):
                    refuse(self.sink, site_id, inner, "site is not running", self.clock.now(),
                           connected=False)
            case ChildCrashed(site_id=site_id, error=error):
                self._crashed(site_id, error)
            case RestartDue(site_id=site_id):
                child = self.children.get(site_id)
                if child is not None and child.ref is None and not child.given_up:
                    child.restarts += 1
                    child.ref = self._start(child.spec, ())
            case Describe():
                return SupervisorInfo(
                    processed=self.processed,
                    restarts={i: c.restarts for i, c in self.children.items()},
                    started_at=self.started_at,
                    children={i: c.ref for i, c in self.children.items() if c.ref is not None},
                )
        return None

    def on_stop(self) -> None:
        for child in self.children.values():
            if child.ref is not None:
                child.ref.stop(block=False)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """A bug in the supervisor: stop every child and wait for them (a new supervisor
        will start them again under the same client ids), then tell the runtime."""
        log.error("supervisor failed; stopping its sites", error=repr(exception_value))
        for child in self.children.values():
            if child.ref is not None:
                with contextlib.suppress(Exception):
                    child.ref.stop(block=True, timeout=CHILD_STOP_TIMEOUT_S)
        if self.on_death is not None:
            self.on_death(repr(exception_value))

    # --- children -----------------------------------------------------------------------------

    def _upsert(self, spec: SiteSpec, devices: tuple[DeviceState, ...]) -> None:
        child = self.children.get(spec.site_id)
        if child is None:
            self.children[spec.site_id] = _Child(spec=spec, ref=self._start(spec, devices))
            return
        if child.spec == spec:
            return
        child.spec = spec
        if child.given_up and spec.is_enabled:  # an operator touched it: try again
            child.given_up, child.crashes = False, []
            child.ref = self._start(spec, ())
        elif child.ref is not None:
            _tell(child.ref, Configure(spec=spec))

    def _remove(self, site_id: int) -> None:
        child = self.children.pop(site_id, None)
        if child is not None and child.ref is not None:
            child.ref.stop(block=False)

    def _start(self, spec: SiteSpec, devices: tuple[DeviceState, ...]) -> Any:
        """A running SiteActor, or None when it cannot be built: that is reported as a
        crash of the site (restart with backoff, then given up), never raised here."""
        supervisor, site_id = self.inbox, spec.site_id

        def on_crash(error: str) -> None:  # runs on the dying SiteActor's thread
            with contextlib.suppress(pykka.ActorDeadError):  # we are gone, or going
                supervisor.tell(ChildCrashed(site_id, error))

        try:
            return self._spawn(spec, devices, on_crash)
        except Exception as exc:  # any bug or bad value in a site's setup is the site's
            log.exception("site actor could not start", site=spec.code)
            self.inbox.tell(ChildCrashed(site_id, f"could not start: {exc!r}"))
            return None

    def _spawn(self, spec: SiteSpec, devices: tuple[DeviceState, ...],
               on_crash: Callable[[str], None]) -> Any:
        return self.site_class.start(
            spec,
            clock=self.clock,
            sink=self.sink,
            policy=self.policy,
            limiter=self.limiter,
            max_payload=self.max_payload,
            max_devices=self.max_devices,
            max_sensors=self.max_sensors,
            devices=devices,
            port_factory=self.port_factory,
            on_crash=on_crash,
        )

    def _crashed(self, site_id: int, error: str) -> None:
        child = self.children.get(site_id)
        if child is None:
            return
        now = self.clock.now()
        child.ref = None
        child.crashes = [t for t in child.crashes if now - t < CRASH_WINDOW_S] + [now]
        log.error("site actor crashed", site=child.spec.code, error=error,
                  crashes_in_window=len(child.crashes))
        if len(child.crashes) >= CRASH_LIMIT:
            child.given_up = True
            self._report_down(child, f"Site actor crashed {len(child.crashes)} times within "
                                     f"{CRASH_WINDOW_S:g} s; not restarted. Last error: {error}")
            return
        delay = min(2.0 ** (len(child.crashes) - 1), RESTART_MAX_S)
        delay *= 1.0 + 0.1 * (2 * self.rng.random() - 1)
        self._report_down(child, f"Site actor crashed, restarting in {delay:.1f} s: {error}",
                          next_retry_at=now + delay)
        self.clock.schedule(delay, self.inbox, RestartDue(site_id))

    def _report_down(self, child: _Child, message: str, next_retry_at: float | None = None) -> None:
        s = child.spec
        self.sink.publish(
            SiteStatusChanged(
                site_id=s.site_id, code=s.code, status=ConnectionStatus.ERROR,
                is_enabled=s.is_enabled,
                error_message=message, retry_count=len(child.crashes), next_retry_at=next_retry_at,
                client_id=s.broker.client_id, last_connected_at=None, topics=(),
                handler_running=False, at=self.clock.now(),
            )
        )


def _tell(ref: Any, message: Any) -> bool:
    """Tell a child; False when it has died and its crash report is still on the way (a
    tell to a dead actor raises, and must not take the supervisor down with it)."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True
