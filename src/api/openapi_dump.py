"""``python -m sitelink.api.openapi_dump [FILE]``: the OpenAPI document the server serves at
``/schema/openapi.json``, written without starting anything (no database, no broker, no
actors) — the input of the dashboard's generated types (``make web-types``).

The app is built as ``sitelink serve`` builds it and never started: the document depends on
the routes and their types only, not on settings or data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from sitelink.actors.clock import BaseClock
from sitelink.api.app import create_app
from sitelink.settings import Settings


def openapi_document(clock: BaseClock | None = None) -> bytes:
    """The document as indented JSON (stable: the same routes give the same bytes).
    ``clock``: the runtime's, never started here (tests pass their fake one)."""
    app = create_app(Settings(database_url="sqlite:///unused-openapi-dump.db"), clock=clock)
    return msgspec.json.format(msgspec.json.encode(app.openapi_schema.to_schema()), indent=2)


def main(argv: list[str]) -> None:
    document = openapi_document() + b"\n"
    if argv:
        Path(argv[0]).write_bytes(document)
    else:
        sys.stdout.buffer.write(document)


if __name__ == "__main__":
    main(sys.argv[1:])
