"""Bounds on what a request may make the server hold: body size per route, JSON nesting depth.

Body size: every route accepts at most ``SMALL_BODY`` unless its decorator says otherwise with
Litestar's ``request_max_body_size=`` (a route that takes more names one of the sizes here;
the import endpoint takes ``IMPORT_BODY``). Litestar refuses a larger
``Content-Length`` with 413 before reading a byte, and stops reading a chunked body at the
limit, so an oversized body is never held whole.

Depth: ``check_json_depth`` runs before the body is parsed (``before_request`` of the app,
after authentication) and refuses JSON nested deeper than ``MAX_JSON_DEPTH`` with 400; a
deeper document would otherwise reach the parser's recursion limit and end as a 500.
Runs on the event loop.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

# login, control actions, topics, device labels: a few KiB is plenty
SMALL_BODY = 4 * 1024
# a site's configuration carries PEM certificates (up to 64 KiB each)
CONFIG_BODY = 256 * 1024
# a published command: a message of up to 256 KiB, which JSON escaping can make 6 times longer
PUBLISH_BODY = 2 * 1024 * 1024
# a YAML or CSV file of sites for ``POST /api/v1/mqtt/sites/import``
IMPORT_BODY = 5 * 1024 * 1024

MAX_JSON_DEPTH = 32

# A JSON string, unrolled so that the engine does not backtrack: "...\"..."
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON document ``body`` nests arrays and objects deeper than ``limit``.

    Strings are removed, then everything but brackets; each pass removes the innermost
    ``[]`` and ``{}`` pairs, so the number of passes is the depth. Each pass runs in C, and
    there are at most ``limit + 1``. Unbalanced brackets (not JSON) stop the passes early
    and are left to the parser to refuse."""
    skeleton = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not skeleton:
            return False
        shorter = skeleton.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(skeleton):
            return False
        skeleton = shorter
    return bool(skeleton)


async def check_json_depth(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of the app: for a request with a body, read the body (the route's
    size limit applies: 413) and refuse it when nested too deeply (400). Whatever its
    Content-Type says: a JSON body parameter is parsed as JSON either way."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    body = await request.body()
    if body and json_depth_exceeds(body):
        raise ValidationException(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
