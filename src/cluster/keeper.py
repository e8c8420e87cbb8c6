"""The lease keeper: claims, renews and releases this instance's site leases (PostgreSQL).

At start it registers the instance under MQTT_INSTANCE_ID, or under the first free
``-2``, ``-3``, … when a live process has that name (``me`` is the name it got; again if
another process took it over while this one was paused). Then two tasks on the loop:

- renewal, every third of the TTL: the instance row's heartbeat, then one statement that
  renews every held lease (``tenure`` counts from the moment it was sent); a lease it did
  not renew is lost and its site let go at once;
- balance, every ``tick_s`` (1 s, or a third of a shorter TTL): a snapshot of the cluster
  (live instances, valid leases, enabled sites), and ``balance.decide`` says how many sites
  to claim or release. A release is graceful: the sites leave ``owns`` and the fence first,
  the runtime lets them say goodbye (``ownership_changed`` returns once they are down), and
  only then is the lease freed. Claimed sites get their new epochs into the storage
  writer's fence before the runtime connects them.

A timer on the loop fires when the tenure ends without a renewal (database away, process
paused): every site is let go at once — before any lease can expire on the database's
clock; ``owns`` also checks the tenure. On SIGTERM ``hand_over`` gives the sites to the
others a chunk at a time, and ``close`` releases whatever is left once the sites said
goodbye, so the others take them at once instead of after the TTL. Loop thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Protocol

import structlog

from sitelink.cluster import lease_store as store
from sitelink.cluster import tenure as ten
from sitelink.cluster.balance import View, decide, handover_chunk
from sitelink.cluster.wakeup import Wakeup, notify
from sitelink.storage.database import Database

log = structlog.get_logger(__name__)

HANDOVER_SETTLE_S = 0.05  # a margin between a released site's goodbye and freeing its lease
HANDOVER_PICKUP_S = 2.0  # the longest wait for a handed-over chunk to connect elsewhere
COOLDOWN_TICKS = 5  # a site this instance released is not claimed back by it for this long


class Runner(Protocol):
    """What the keeper needs from the runtime."""

    async def ownership_changed(self, lost: frozenset[int],
                                gained: frozenset[int] = frozenset()) -> None:
        """Stop the ``lost`` sites (return once they are down) and run the owned ones."""


class LeaseKeeper:
    """This instance's leases; an ``Ownership`` for the runtime."""

    def __init__(
        self,
        db: Database,
        *,
        instance_id: str,
        ttl_s: float,
        runner: Runner,
        fence: Callable[[dict[int, int]], None],
        announce: Callable[[dict[str, Any]], None],
        workers: Callable[[], Sequence[dict[str, Any]]] = list,
        api_address: Callable[[], str] = str,
        now: Callable[[], float] = time.monotonic,
        wakeup: Wakeup | None = None,
        connect_rate: float = 50.0,
        picked_up: Callable[[Collection[int], float], Awaitable[bool]] | None = None,
    ) -> None:
        self.db = db
        self.me = self.wanted = instance_id
        self.ttl_s = ttl_s
        self.tick_s = min(1.0, ttl_s / 3)
        self.renew_every_s = ttl_s / 3
        self.runner = runner
        self.fence = fence
        self.announce = announce
        self.workers = workers
        self.api_address = api_address
        self.now = now
        self.wakeup = wakeup
        self.connect_rate = connect_rate  # every instance's, as configured here
        self.picked_up = picked_up  # True once the sites are taken elsewhere
        self.leaving = False
        self.incarnation = secrets.token_hex(8)
        self.tenure = ten.Tenure()
        self.held: dict[int, int] = {}  # site -> epoch
        self.owners: dict[int, str] = {}  # every enabled site's owner, as last read
        self.instances: tuple[str, ...] = ()
        self.worker_counts: dict[str, int] = {}  # live instance -> its site workers
        self.unowned_since: dict[int, float] = {}
        self.moves = 0  # sites this instance took over from another owner
        self._cooldown: dict[int, int] = {}
        self._handing: set[int] = set()  # released for balance, not yet taken elsewhere
        self._handed_at = 0.0
        self._strays_at = -float("inf")
        self._lapse: asyncio.TimerHandle | None = None
        self._renewal: asyncio.Task[None] | None = None
        self._balance: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._changing = asyncio.Lock()

    # --- Ownership -----------------------------------------------------------------------------

    def owns(self, site_id: int) -> bool:
        return site_id in self.held and (self.alone or ten.valid(self.tenure, self.now()))

    @property
    def alone(self) -> bool:
        """The last view of the cluster had no other live instance. Such an instance keeps
        its sites through a database outage (issue 11: an outage of storage only): nobody
        else can take them, unless an instance starts meanwhile and reaches the database
        when this one cannot — the broker's client-id rule is then the only line."""
        return not set(self.instances) - {self.me}

    def owner_of(self, site_id: int) -> str | None:
        if self.owns(site_id):
            return self.me
        owner = self.owners.get(site_id)
        return owner if owner != self.me else None

    def unowned_for(self, seconds: float) -> int:
        """Enabled sites owned by nobody for longer than ``seconds``."""
        now = self.now()
        return sum(1 for since in self.unowned_since.values() if now - since > seconds)

    # --- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register this instance under the first free name, claim a first share, and start
        ticking."""
        await self._register()
        await store.release_strays(self.db, me=self.me, held=())
        await notify(self.db)  # the others make room at once
        self.announce({"change": "joined", "instance_id": self.me})
        await self.tick()
        self._renewal = asyncio.create_task(self._every(
            lambda: asyncio.sleep(self.renew_every_s), self._renew), name="lease-renewal")
        self._balance = asyncio.create_task(self._every(self._tick_due, self.tick),
                                            name="lease-balance")

    async def _register(self) -> None:
        """Under MQTT_INSTANCE_ID, or the first free ``-2``, ``-3``, … (the docstring)."""
        self.me = await store.register_first_free(
            self.db, wanted=self.wanted, incarnation=self.incarnation,
            api_address=self.api_address(), ttl_s=self.ttl_s)
        if self.me != self.wanted:
            log.info("instance id held by another live instance; registered under a suffix",
                     configured=self.wanted, instance_id=self.me)

    async def stop_claiming(self) -> None:
        """No more claims or releases (before the sites say goodbye); renewals go on."""
        await _cancel(self._balance)
        self._balance = None

    async def hand_over(self) -> None:
        """SIGTERM with other live instances: leave the cluster's view first (the row goes,
        so the others count this one out and claim what it frees at once), then release the
        sites in chunks the others connect in a moment, the next chunk saying goodbye while
        the last one connects elsewhere. The rest stay connected meanwhile, so no site
        waits behind hundreds of others' connects. Whatever is left (a chunk not taken in
        time, the database away) stops with the rest and is released by ``close``."""
        await self.stop_claiming()
        takers = len(set(self.instances) - {self.me})
        if not self.held or not takers:
            return
        self.leaving = True  # renewals go on without the instance row
        sites, size = list(self.held), handover_chunk(self.connect_rate)
        waiting: list[set[int]] = []  # a chunk in flight per taker, at most
        try:
            await store.deregister(self.db, me=self.me, incarnation=self.incarnation)
            for start in range(0, len(sites), size):
                if len(waiting) == takers and self.picked_up is not None \
                        and not await self.picked_up(waiting.pop(0), HANDOVER_PICKUP_S):
                    log.warning("handover: a chunk was not taken elsewhere in time; "
                                "the rest go at once", left=len(self.held))
                    return
                chunk = {s for s in sites[start:start + size] if s in self.held}
                await self._release(chunk, chunk)
                waiting.append(chunk)
        except Exception as exc:
            log.warning("handover stopped; the rest go at once", left=len(self.held),
                        error=f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Stop renewing and release every lease (call after the sites said goodbye)."""
        await self.stop_claiming()
        await _cancel(self._renewal)
        self._renewal = None
        if self.wakeup is not None:
            await self.wakeup.close()
        self._set_tenure(ten.Tenure())
        held, self.held = self.held, {}
        try:
            await asyncio.sleep(HANDOVER_SETTLE_S)  # the goodbyes reach the broker first
            await store.release(self.db, me=self.me, site_ids=None)
            await notify(self.db)
            await store.deregister(self.db, me=self.me, incarnation=self.incarnation)
            log.info("leases released", sites=len(held))
        except Exception as exc:
            log.warning("could not release the leases; they expire after the TTL",
                        error=str(exc), ttl_s=self.ttl_s)

    @staticmethod
    async def _every(due: Callable[[], Awaitable[None]],
                     step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await due()
            try:
                await step()
            except Exception as exc:
                log.warning("lease keeper step failed", step=getattr(step, "__name__", ""),
                            error=f"{type(exc).__name__}: {exc}")

    async def _tick_due(self) -> None:
        """A tick every ``tick_s``, or at once when another instance freed leases."""
        await (asyncio.sleep(self.tick_s) if self.wakeup is None
               else self.wakeup.wait(self.tick_s))

    # --- renewal (its own task, so a slow handover never delays it) ----------------------------

    async def _renew(self) -> None:
        if not self.leaving and not await store.heartbeat(
                self.db, me=self.me, incarnation=self.incarnation, workers=self.workers()):
            log.error("another process took this instance id over (this one was paused or "
                      "cut off); dropping every site, registering anew", instance_id=self.me)
            self._let_go(set(self.held))
            self._set_tenure(ten.Tenure())  # none held: the next claim starts a tenure
            await self._register()  # not under a name a live process holds
            return
        sent, sent_at = dict(self.held), self.now()
        renewed = await store.renew(self.db, me=self.me, held=sent, ttl_s=self.ttl_s)
        lost = {s for s, epoch in sent.items()
                if renewed.get(s) != epoch and self.held.get(s) == epoch}
        if lost:
            log.warning("leases lost", sites=sorted(lost))
            self._let_go(lost)
        # those claimed since ``sent_at`` were claimed later still; none held: none to lapse
        self._set_tenure(ten.renewed(sent_at=sent_at, ttl_s=self.ttl_s) if self.held
                         else ten.Tenure())  # and the next claim starts a tenure afresh
        self.fence(dict(self.held))  # again: a writer process started anew has none

    # --- balance (one tick) --------------------------------------------------------------------

    async def tick(self) -> None:
        async with self._changing:
            self._lapse_if_due()
            if self.now() - self._strays_at >= self.renew_every_s:
                self._strays_at = self.now()
                await store.release_strays(self.db, me=self.me, held=list(self.held))
            await store.ensure_leases(self.db)
            snap = await store.snapshot(self.db, ttl_s=self.ttl_s)
            self._observe(snap)
            others = {i: o for i, o in snap.owners.items() if o != self.me}
            gone = {s for s in self.held if s not in snap.enabled}  # disabled or deleted
            kept = [s for s in self.held if s not in gone]  # by claim; the latest go first
            counts: dict[str, int] = {self.me: len(kept)}
            for owner in others.values():
                counts[owner] = counts.get(owner, 0) + 1
            free = sum(1 for s in snap.enabled if s not in others and s not in self.held)
            decision = decide(View(me=self.me, instances=snap.instances, held=counts,
                                   sites=len(snap.enabled), free=free))
            paced = min(decision.release, handover_chunk(self.connect_rate))
            handed = set(kept[-paced:]) if paced and await self._handed_over() else set()
            if gone or handed:
                await self._release(gone | handed, handed)
            if decision.claim:
                await self._claim(decision.claim)
            self._cooldown = {s: n - 1 for s, n in self._cooldown.items() if n > 1}

    def _observe(self, snap: store.Snapshot) -> None:
        now = self.now()
        joined = set(snap.instances) - set(self.instances) - {self.me}
        left = set(self.instances) - set(snap.instances)
        if self.instances:
            for instance in sorted(joined):
                self.announce({"change": "joined", "instance_id": instance})
        for instance in sorted(left):
            self.announce({"change": "left", "instance_id": instance})
        self.instances, self.worker_counts = snap.instances, dict(snap.workers)
        self.owners = dict(snap.owners)
        self.unowned_since = {s: self.unowned_since.get(s, now) for s in snap.enabled
                              if s not in snap.owners and s not in self.held}

    async def _handed_over(self) -> bool:
        """The last chunk released for balance is taken elsewhere (or waited for long
        enough): the next one may go. A chunk at a time, at the taker's pace — ticks come
        at every NOTIFY, far faster than a taker connects."""
        if self._handing and self.picked_up is not None and not await self.picked_up(
                self._handing, 0) and self.now() - self._handed_at < HANDOVER_PICKUP_S:
            return False
        self._handing = set()
        return True

    async def _claim(self, count: int) -> None:
        sent_at = self.now()
        got = await store.claim(self.db, me=self.me, count=count, ttl_s=self.ttl_s,
                                exclude=[*self.held, *self._cooldown])
        if not got:
            return
        self._set_tenure(ten.claimed(self.tenure, sent_at=sent_at, ttl_s=self.ttl_s))
        for lease in got:
            self.held[lease.site_id] = lease.epoch
            self.owners[lease.site_id] = self.me
            self.unowned_since.pop(lease.site_id, None)
        moved = [g.site_id for g in got if g.previous is not None and g.previous != self.me]
        self.moves += len(moved)
        self.fence(dict(self.held))  # the writer knows the epochs before anything connects
        log.info("leases claimed", sites=sorted(g.site_id for g in got), moved=len(moved))
        self.announce({"change": "sites_moved", "instance_id": self.me,
                       "gained": sorted(g.site_id for g in got)})
        await self.runner.ownership_changed(frozenset(),
                                            frozenset(g.site_id for g in got))

    async def _release(self, sites: set[int], handed: set[int]) -> None:
        """Graceful: the sites stop and say goodbye, and only then are their leases freed.
        The ``handed`` ones, given up for others to take, are not claimed back for a while;
        the rest were disabled or deleted: enabled again, they are claimed at once."""
        for site_id in sites:
            self.held.pop(site_id, None)
        self.fence(dict(self.held))
        await self.runner.ownership_changed(frozenset(sites))
        # Down in the read model means paho has sent the DISCONNECT and closed the socket
        # (the port waits for it); the next owner connects within milliseconds of the
        # release: a margin for the broker to read the goodbye first (else a takeover).
        await asyncio.sleep(HANDOVER_SETTLE_S)
        await store.release(self.db, me=self.me, site_ids=sites)
        await notify(self.db)
        self._cooldown.update({s: COOLDOWN_TICKS for s in handed})
        if handed:  # the next chunk waits until these are taken elsewhere
            self._handing, self._handed_at = set(handed), self.now()
        log.info("leases released", sites=sorted(sites))
        self.announce({"change": "sites_moved", "instance_id": self.me,
                       "released": sorted(sites)})

    def _let_go(self, sites: set[int]) -> None:
        """Stop running ``sites`` now, without waiting (their leases are lost or lapsing):
        they leave ``owns`` and the fence at once; the runtime stops them in a task."""
        sites = {s for s in sites if s in self.held}
        if not sites:
            return
        for site_id in sites:
            self.held.pop(site_id, None)
        self.fence(dict(self.held))
        task = asyncio.get_running_loop().create_task(
            self.runner.ownership_changed(frozenset(sites)), name="sites-let-go")
        self._background.add(task)
        task.add_done_callback(self._let_go_done)

    def _let_go_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stopping sites let go failed", error=repr(task.exception()))

    # --- the tenure's end -----------------------------------------------------------------------

    def _set_tenure(self, tenure: ten.Tenure) -> None:
        self.tenure = tenure
        if self._lapse is not None:
            self._lapse.cancel()
        self._lapse = None
        if tenure.state is ten.TenureState.HELD:
            delay = max(0.0, tenure.valid_until - self.now())
            self._lapse = asyncio.get_running_loop().call_later(delay, self._on_lapse_timer)

    def _on_lapse_timer(self) -> None:
        self._lapse = None
        if not self._lapse_if_due() and self.tenure.state is ten.TenureState.HELD:
            self._set_tenure(self.tenure)  # the loop woke a little early: wait again

    def _lapse_if_due(self) -> bool:
        """When the tenure has just lapsed, let every site go and say True."""
        before = self.tenure.state
        self.tenure = ten.check(self.tenure, self.now())
        if before is not ten.TenureState.HELD or self.tenure.state is not ten.TenureState.LAPSED:
            return False
        if self.alone:
            log.warning("leases not renewed in time; alone in the cluster, the sites stay "
                        "connected", sites=len(self.held), ttl_s=self.ttl_s)
            return False
        log.error("leases not renewed in time; stopping every site before they expire",
                  sites=len(self.held), ttl_s=self.ttl_s)
        self._let_go(set(self.held))
        return True


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
