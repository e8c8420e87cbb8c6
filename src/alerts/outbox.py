"""The sender: delivers the outbox's notifications, one task per channel, on the loop.

A channel's task claims its due notifications (``sitelink.storage.outbox``), delivers them
one notification at a time (a group of rows as one), records each attempt and the row's
next state, then waits until the next row falls due or it is woken. A channel that is down
or slow only delays itself: every delivery has a timeout and the other channels have
tasks of their own; actors and the bridge never wait for any of it.

After a failure a row is retried after ``min(BASE_S * 2**(attempts-1), MAX_S)``, and given
up (``failed``) when the next try would fall more than ``GIVE_UP_S`` (24 h) after the row
was queued. A claim is a lease: rows of a sender that died are delivered again once it
ends, so delivery is at least once (a receiver may see a notification twice, never none).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import httpx
import structlog

from sitelink.alerts.delivery import DeliveryFailed, deliver
from sitelink.alerts.model import ChannelTarget
from sitelink.storage import alert_config, outbox
from sitelink.storage.database import Database
from sitelink.storage.outbox import Delivery

log = structlog.get_logger(__name__)

BASE_S = 10.0
MAX_S = 3600.0
GIVE_UP_S = 24 * 3600.0
LEASE_S = 120.0
IDLE_WAIT_S = 30.0  # look again this often anyway: rows queued by another instance


class NoteState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def after_attempt(attempts: int, queued_at: datetime, now: datetime,
                  ok: bool) -> tuple[NoteState, datetime | None]:
    """The row's state after its ``attempts``-th attempt (pure): sent, queued again for a
    time, or failed for good."""
    if ok:
        return NoteState.SENT, None
    delay = min(BASE_S * 2 ** max(0, attempts - 1), MAX_S)
    retry_at = now + timedelta(seconds=delay)
    if (retry_at - queued_at).total_seconds() > GIVE_UP_S:
        return NoteState.FAILED, None
    return NoteState.QUEUED, retry_at


def _batches(deliveries: list[Delivery]) -> list[list[Delivery]]:
    """Each row alone, except rows of one group, which go out together."""
    groups: dict[str, list[Delivery]] = {}
    out: list[list[Delivery]] = []
    for d in deliveries:
        if d.group_key:
            if d.group_key not in groups:
                groups[d.group_key] = []
                out.append(groups[d.group_key])
            groups[d.group_key].append(d)
        else:
            out.append([d])
    return out


class Sender:
    def __init__(self, db: Database, *, public_url: str, timeout_s: float = 10.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.public_url = public_url
        self.timeout_s = timeout_s
        self.now = now
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (channel name, outcome)
        self.client = httpx.AsyncClient(follow_redirects=False)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._stopping = False

    # --- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        for target in await alert_config.list_targets(self.db):
            self.watch(target.id)

    async def stop(self) -> None:
        """Let each channel finish the delivery in hand (bounded by its timeout), then end.
        Not cancelled mid-claim: that would leave a claim's transaction open."""
        self._stopping = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self.wake()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.timeout_s + 5)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.client.aclose()

    def watch(self, channel_id: int) -> None:
        """Start the channel's task (a new channel), or wake it."""
        if channel_id not in self._tasks:
            self._wake[channel_id] = asyncio.Event()
            self._tasks[channel_id] = asyncio.get_running_loop().create_task(
                self._loop(channel_id), name=f"alerts-channel-{channel_id}")
        self.wake([channel_id])

    def forget(self, channel_id: int) -> None:
        """A deleted channel: its task ends after the delivery in hand."""
        self._tasks.pop(channel_id, None)
        wake = self._wake.pop(channel_id, None)
        if wake is not None:
            wake.set()

    def wake(self, channel_ids: list[int] | None = None) -> None:
        for channel_id in self._wake if channel_ids is None else channel_ids:
            event = self._wake.get(channel_id)
            if event is not None:
                event.set()

    # --- work ----------------------------------------------------------------------------------

    async def _loop(self, channel_id: int) -> None:
        wake = self._wake[channel_id]
        while not self._stopping and self._wake.get(channel_id) is wake:
            wake.clear()
            try:
                await self.run_once(channel_id)
                due = await outbox.next_due_at(self.db, channel_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert channel sender failed", channel_id=channel_id)
                due = None
            wait = IDLE_WAIT_S
            if self._stopping:
                return
            if due is not None:
                wait = min(wait, max(0.0, (due - self.now()).total_seconds()))
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)

    async def run_once(self, channel_id: int) -> int:
        """Claim and deliver what is due for one channel now; the number of rows handled."""
        claimed = await outbox.claim_due(self.db, channel_id, self.now(), lease_s=LEASE_S)
        if not claimed:
            return 0
        target = await alert_config.get_target(self.db, channel_id)
        for batch in _batches(claimed):
            await self._attempt(target, batch)
        return len(claimed)

    async def _attempt(self, target: ChannelTarget, batch: list[Delivery]) -> None:
        started = time.perf_counter()
        error = ""
        if not target.is_enabled:
            error = "the channel is disabled"
        else:
            try:
                await deliver(target, batch, client=self.client, public_url=self.public_url,
                              timeout_s=self.timeout_s)
            except DeliveryFailed as exc:
                error = str(exc)
            except Exception as exc:  # a bug or a library's surprise must not stop the channel
                log.exception("alert delivery failed unexpectedly", channel=target.name)
                error = f"{type(exc).__name__}"
        ms = int((time.perf_counter() - started) * 1000)
        now = self.now()
        for d in batch:  # the rows of a group share the attempt, each keeps its own clock
            state, retry_at = after_attempt(d.attempts + 1, d.created_at, now, not error)
            await outbox.record_attempt(self.db, [d.id], at=now, ok=not error, error=error,
                                        duration_ms=ms, retry_at=retry_at)
            if state is NoteState.FAILED:
                self.outcomes[(target.name, "expired")] += 1
        self.outcomes[(target.name, "failed" if error else "sent")] += 1
        if error:
            log.warning("alert notification not delivered", channel=target.name,
                        alerts=len(batch), error=error)

    async def test(self, target: ChannelTarget, sample: Delivery) -> tuple[bool, str, int]:
        """Send one test notification now: (delivered, error, milliseconds). Not stored."""
        started = time.perf_counter()
        try:
            await deliver(target, [sample], client=self.client, public_url=self.public_url,
                          timeout_s=self.timeout_s)
            error = ""
        except DeliveryFailed as exc:
            error = str(exc)
        ms = int((time.perf_counter() - started) * 1000)
        self.outcomes[(target.name, "failed" if error else "sent")] += 1
        return not error, error, ms
