"""Times on the wire: ISO 8601 UTC with ``Z``. Inside, times are Unix seconds (float)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso(ts: float) -> str: ...
@overload
def iso(ts: None) -> None: ...
@overload
def iso(ts: float | None) -> str | None: ...
def iso(ts: float | None) -> str | None:
    """``1762857000.5`` → ``"2025-11-11T10:30:00.500Z"``; None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@overload
def iso_time(value: datetime) -> str: ...
@overload
def iso_time(value: None) -> None: ...
@overload
def iso_time(value: datetime | None) -> str | None: ...
def iso_time(value: datetime | None) -> str | None:
    """A stored datetime on the wire: ISO 8601 UTC with ``Z``; None stays None."""
    return iso(seconds(value))


@overload
def seconds(value: datetime) -> float: ...
@overload
def seconds(value: None) -> None: ...
@overload
def seconds(value: datetime | None) -> float | None: ...
def seconds(value: datetime | None) -> float | None:
    """A stored datetime (aware or naive UTC) as Unix seconds."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def parse_iso(text: str) -> datetime:
    """Accepts ``Z`` or an offset; a naive time is taken as UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
