"""The messages between the main process and a site worker (over ``sitelink.channel``).

Commands cross pickled (``Command.body``): they are the supervisor's own messages
(``Apply``, ``Upsert``, ``Remove``, ``Forward`` of any site message), a closed set that
already pickles, and they are rare; a ``Publish``'s ``reply`` cannot cross, so it crosses as
``None`` with a ``request`` number and the worker answers with ``Replied``. Events cross
the other way as msgpack (``Events``, the writer's ``AnyEvent`` encoding), many per frame.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sitelink.actors.site_messages import PublishResult


class Hello(msgspec.Struct, frozen=True, kw_only=True):
    """The first frame (pickled): who the worker is and how it runs."""

    worker: int
    workers: int
    settings: Any  # sitelink.settings.Settings


class Command(msgspec.Struct, tag=True, array_like=True):
    request: int  # 0: nobody waits; otherwise the number ``Replied`` answers with
    body: bytes  # the pickled supervisor message


class Inspect(msgspec.Struct, tag=True, array_like=True):
    request: int


class Goodbye(msgspec.Struct, tag=True, array_like=True):
    """Every site says goodbye (within the shutdown timeout); then the worker exits."""


class Ready(msgspec.Struct, tag=True, array_like=True):
    pid: int


class Events(msgspec.Struct, tag=True, array_like=True):
    events: msgspec.Raw  # a msgpack list of AnyEvent


class Replied(msgspec.Struct, tag=True, array_like=True):
    request: int
    result: PublishResult


class Tree(msgspec.Struct, tag=True, array_like=True):
    """The worker's answer to ``Inspect``: its supervisor's figures and its site nodes."""

    request: int
    processed: int
    restarts: int
    started_at: float
    sites: list[dict[str, Any]]


class Stopped(msgspec.Struct, tag=True, array_like=True):
    pass


ToWorker = Command | Inspect | Goodbye
ToMain = Ready | Events | Replied | Tree | Stopped
