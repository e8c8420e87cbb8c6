"""Sites in bulk: ``GET /api/v1/mqtt/sites/export`` and ``POST /api/v1/mqtt/sites/import``.

Handlers run on the event loop. The import reads a YAML or CSV body (``Content-Type``
``application/yaml`` or ``text/csv``, or ``?format=``) — or a JSON body
``{"format": "yaml"|"csv", "content": "<the file's text>"}`` (``application/json``), the form
the dashboard sends, since a cookie session may only send JSON — checks every row with the
site rules (``sitelink.sites_bulk``), and writes nothing unless every row is good: then all
of it in one transaction (``sitelink.storage.bulk``), and each changed site is handed to its
actor.
With ``dry_run=1`` it only says what it would do. The answer is the per-row report; 400
when a row is bad (the report names the row and the field).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from sitelink import sites_bulk
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.limits import IMPORT_BODY
from sitelink.errors import ValidationError
from sitelink.runtime import Runtime
from sitelink.storage import bulk as bulk_store

MEDIA_TYPES = {"yaml": "application/yaml", "csv": "text/csv"}
_FORMAT_OF = {"application/yaml": "yaml", "application/x-yaml": "yaml", "text/yaml": "yaml",
              "text/csv": "csv"}


class BulkController(Controller):
    path = "/api/v1/mqtt/sites"
    tags = ["sites"]

    @get("/export", opt=ADMIN, media_type=MEDIA_TYPES["yaml"])
    async def export_sites(
        self, runtime: NamedDependency[Runtime],
        format: Literal["yaml", "csv"] = Parameter(default="yaml"),
    ) -> Response[str]:
        """Every site with its topics, never a secret (no password, no client key)."""
        sites, topics = await bulk_store.current(runtime.db)
        body = sites_bulk.export(sites, topics, format)
        return Response(body, media_type=MEDIA_TYPES[format], headers={
            "Content-Disposition": f'attachment; filename="sites.{format}"'})

    @post("/import", opt=ADMIN, status_code=200, request_max_body_size=IMPORT_BODY)
    async def import_sites(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        dry_run: bool = Parameter(default=False),
        format: Literal["yaml", "csv"] | None = Parameter(default=None),
    ) -> Response[sites_bulk.ImportReport]:
        """Create or update sites by code from a YAML or CSV body, or from the JSON
        ``{"format", "content"}`` wrapping one (the same rules, the same report); all or
        nothing. The whole request is at most ``IMPORT_BODY`` bytes (413 beyond)."""
        body = await request.body()  # at most IMPORT_BODY: a larger one is refused with 413
        if _media(request.headers.get("content-type", "")) == "application/json":
            fmt, body = _unwrap(body)
        else:
            fmt = format or _format_of(request.headers.get("content-type", ""))
        rows = sites_bulk.parse(body, fmt)
        sites, topics = await bulk_store.current(runtime.db)
        planned, results = sites_bulk.plan(rows, sites, topics)
        bad = any(r.action == "error" for r in results)
        changed: Sequence[tuple[int, str]] = ()
        if not bad and not dry_run:
            changed = await bulk_store.apply(runtime.db, planned, runtime.settings.keep_alive_s)
            for site_id, change in changed:
                await runtime.site_changed(site_id, change)
        report = sites_bulk.report(results, dry_run=dry_run, applied=bool(not bad and not dry_run))
        if not dry_run and not bad:
            await record(request, "site.import", target="", detail={
                "created": report.created, "updated": report.updated, "sites": len(changed)})
        return Response(report, status_code=400 if bad else 200)


class _Wrapped(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The JSON form of an import: the file's text and its format."""

    format: Literal["yaml", "csv"]
    content: str


def _unwrap(body: bytes) -> tuple[Literal["yaml", "csv"], bytes]:
    """The format and the file of a JSON import body; ``ValidationError`` naming the field
    (``format`` or ``content``) when it is not ``{"format": "yaml"|"csv", "content": str}``."""
    try:
        wrapped = msgspec.json.decode(body, type=_Wrapped)
    except msgspec.ValidationError as exc:
        field = "format" if "format" in str(exc) else "content"
        raise ValidationError(field, "send {\"format\": \"yaml\"|\"csv\", "
                                     "\"content\": the file's text}") from None
    except msgspec.DecodeError:
        raise ValidationError("content", "the body is not JSON") from None
    return wrapped.format, wrapped.content.encode()


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _format_of(content_type: str) -> Literal["yaml", "csv"]:
    found = _FORMAT_OF.get(_media(content_type))
    if found is None:
        raise ValidationError("format", "send Content-Type application/yaml or text/csv, "
                                        "or ?format=yaml|csv, or JSON {format, content}")
    return "yaml" if found == "yaml" else "csv"
