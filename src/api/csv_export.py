"""CSV for the export endpoints (readings, audit): one row at a time, for streaming.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return) get a leading apostrophe, since names and targets come from users.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

import msgspec

from sitelink.storage import audit as audit_store
from sitelink.times import iso_time

if TYPE_CHECKING:
    from sitelink.runtime import Runtime

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_row(values: Iterable[object]) -> str:
    """One CSV line (RFC 4180 quoting, ``\\r\\n`` ending)."""
    out = io.StringIO()
    csv.writer(out).writerow([_cell(v) for v in values])
    return out.getvalue()


def attachment(filename: str) -> str:
    """A Content-Disposition value; the name is kept to safe characters."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f'attachment; filename="{safe}"'


AUDIT_PAGE = 1000


async def audit_csv(runtime: Runtime) -> AsyncIterator[str]:
    """The whole audit log, newest first, a page at a time (event loop). Entries appended
    while it streams can push older ones a row down, so a page may repeat an entry."""
    yield csv_row(["id", "at", "actor", "action", "target", "result", "detail"])
    offset = 0
    while True:
        entries = await audit_store.list_audit(runtime.db, limit=AUDIT_PAGE, offset=offset)
        yield "".join(
            csv_row([e.id, iso_time(e.at), e.actor, e.action, e.target, e.result,
                     msgspec.json.encode(e.detail).decode()])
            for e in entries
        )
        if len(entries) < AUDIT_PAGE:
            return
        offset += AUDIT_PAGE
