"""The site host with the sites in this process: a publish for a site when the supervisor
has died (before ``watch`` starts a new one) is answered failed and not connected, and the
failure goes out as the command's outcome, as a refusal by a site's actor does."""

from __future__ import annotations

from collections.abc import Sequence

from fake_clock import FakeClock
from sitelink.actors.site_messages import Publish, PublishResult
from sitelink.actors.supervisor import Forward
from sitelink.events import CommandOutcome, Event
from sitelink.settings import Settings
from sitelink.site_host import SiteHost


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def publish_batch(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


async def nothing() -> None:
    return None


async def test_a_publish_while_the_supervisor_is_dead_fails_and_says_so() -> None:
    clock, sink = FakeClock(), Sink()
    host = SiteHost(Settings(), clock=clock, sink=sink, port_factory=None, on_revived=nothing)
    host.start()
    assert host.supervisor is not None
    host.supervisor.stop()
    replies: list[PublishResult] = []
    host.tell(Forward(7, Publish(command_id="c", topic="x/y", payload=b"", qos=1,
                                 retain=False, reply=replies.append)))
    assert [(r.outcome, r.connected, r.error) for r in replies] == [
        ("failed", False, "site is not running")]
    assert [(e.command_id, e.site_id, e.outcome, e.error, e.at) for e in sink.events
            if isinstance(e, CommandOutcome)] == [
        ("c", 7, "failed", "site is not running", clock.now())]
    clock.stop()
