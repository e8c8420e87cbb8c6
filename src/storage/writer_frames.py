"""The frames the storage writer process and its parent exchange (see ``remote_writer``),
over the framed channel of ``sitelink.channel``."""

from __future__ import annotations

import msgspec

from sitelink.channel import Frames as Frames
from sitelink.channel import frame as frame
from sitelink.events import DeviceDiscovered, DeviceKey


class Submit(msgspec.Struct, tag=True, array_like=True):
    """``count`` events, encoded once by the parent as a msgpack list of ``AnyEvent``; the
    child keeps them encoded until it writes them (``writer_buffer``); ``news``: whether
    they hold any (``writer_buffer.has_news``)."""

    count: int
    events: msgspec.Raw
    news: bool = True


class Ensure(msgspec.Struct, tag=True, array_like=True):
    request: int
    discovered: list[DeviceDiscovered]


class Forget(msgspec.Struct, tag=True, array_like=True):
    device: DeviceKey


class Close(msgspec.Struct, tag=True, array_like=True):
    pass


class Ready(msgspec.Struct, tag=True, array_like=True):
    pass


class Ensured(msgspec.Struct, tag=True, array_like=True):
    request: int
    ids: list[tuple[DeviceKey, int]]
    error: str = ""


class Stats(msgspec.Struct, tag=True, array_like=True):
    lag: int
    dropped: int
    last_flush_s: float
    storage_ok: bool = True
    buffered_bytes: int = 0
    rejects: dict[str, int] = {}
    error: str = ""


class Closed(msgspec.Struct, tag=True, array_like=True):
    lag: int


ToChild = Submit | Ensure | Forget | Close
ToParent = Ready | Ensured | Stats | Closed
