"""Commands in flight: publishes waiting for the broker's acknowledgement.

Owned by a SiteActor and used on its thread. Each outcome is published as a
``CommandOutcome`` event (the storage writer records it, the stream announces it) and
handed to the caller's ``reply``, exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from sitelink.actors.site_messages import Publish, PublishResult
from sitelink.events import CommandOutcome, CommandOutcomeKind, EventSink

log = structlog.get_logger(__name__)

Reply = Callable[[PublishResult], None]


class PendingCommands:
    def __init__(self, site_id: int, sink: EventSink, now: Callable[[], float]) -> None:
        self.site_id = site_id
        self.sink = sink
        self.now = now
        self._by_mid: dict[int, tuple[str, int, Reply | None]] = {}

    def __len__(self) -> int:
        return len(self._by_mid)

    def sent(self, publish: Publish, mid: int) -> None:
        """The client took the message; its outcome comes with the broker's answer."""
        self._by_mid[mid] = (publish.command_id, publish.qos, publish.reply)

    def answered(self, mid: int, error: str) -> None:
        """paho's on_publish: written (qos 0) or acknowledged (qos 1 and 2)."""
        command_id, qos, reply = self._by_mid.pop(mid, ("", 0, None))
        if not command_id:
            return
        outcome: CommandOutcomeKind = "failed" if error else ("acked" if qos else "sent")
        self._settle(command_id, reply, outcome, error)

    def fail_all(self, error: str) -> None:
        """The link is gone: nothing in flight will be acknowledged any more."""
        pending, self._by_mid = self._by_mid, {}
        for command_id, _, reply in pending.values():
            self._settle(command_id, reply, "failed", error)

    def refuse(self, publish: Publish, error: str, *, connected: bool = True) -> None:
        """A command that never reached the client: failed, recorded like any outcome."""
        refuse(self.sink, self.site_id, publish, error, self.now(), connected=connected)

    def _settle(self, command_id: str, reply: Reply | None, outcome: CommandOutcomeKind,
                error: str) -> None:
        settle(self.sink, self.site_id, command_id, reply, outcome, error, self.now())


def refuse(sink: EventSink, site_id: int, publish: Publish, error: str, at: float, *,
           connected: bool) -> None:
    """Answer a command refused before it reached a client. Its row (written by the API
    before it asked) gets the ``failed`` outcome, and the stream says so."""
    settle(sink, site_id, publish.command_id, publish.reply, "failed", error, at,
            connected=connected)


def settle(sink: EventSink, site_id: int, command_id: str, reply: Reply | None,
           outcome: CommandOutcomeKind, error: str, at: float, *,
           connected: bool = True) -> None:
    """A command's outcome: published as ``CommandOutcome`` (recorded, announced) and
    handed to the caller's ``reply``."""
    sink.publish(CommandOutcome(command_id=command_id, site_id=site_id, outcome=outcome,
                                error=error, at=at))
    _reply(reply, PublishResult(command_id=command_id, outcome=outcome, error=error,
                                connected=connected))


def _reply(reply: Reply | None, result: PublishResult) -> None:
    """Hand ``result`` to the caller's ``reply``; a reply that fails is logged, never raised."""
    if reply is not None:
        try:
            reply(result)
        except Exception:
            log.exception("publish reply failed")
