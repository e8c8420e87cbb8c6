"""Sites in bulk: a YAML or CSV file of sites (with their topics) read, checked and planned
row by row, and the export that writes the same shapes.

Pure code, no I/O (``sitelink.storage.bulk`` writes a plan, the API and the CLI call both):
safe on any thread. Every row is checked by the site rules of ``sitelink.site_rules`` — the
API's and the CLI's — and each topic by ``sitelink.topics.Subscription``, so a file can hold
nothing that the API would refuse. Sites are matched by ``code``: a new code is created, a
known one updated with the fields the row gives (``unchanged`` when they already hold).

Formats (the export writes them, the import reads them back):

- YAML: ``{"sites": [{<site fields>, "topics": [{<topic fields>}, ...]}, ...]}`` (a bare
  list of sites is read too);
- CSV: one row per site, a column per site field; ``labels`` as ``key=value;key=value``,
  ``topics`` as a JSON list (empty: the site's topics are left as they are).

Secrets (``password``, ``tls_client_key_pem``) are never exported; an import may set them
(a row that gives one is always ``update``: the stored value cannot be compared).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
import yaml

from sitelink.errors import ValidationError
from sitelink.site_rules import SECRET_FIELDS, SiteCreate, check_new_site, check_site_update
from sitelink.storage.sites import SiteRecord
from sitelink.storage.topics import NewTopic, TopicRecord
from sitelink.topics import Subscription

Format = Literal["yaml", "csv"]
Action = Literal["create", "update", "unchanged", "error"]
FIELDS = tuple(f for f in SiteCreate.__struct_fields__ if f not in SECRET_FIELDS)
"""The site fields an export writes, in this order (CSV columns, then ``topics``)."""
TOPIC_FIELDS = tuple(f for f in NewTopic.__struct_fields__)
_INTS = frozenset({"broker_port", "keepalive_s", "offline_after_s"})
_BOOLS = frozenset({"tls", "tls_verify_hostname", "is_enabled"})
_TRUE, _FALSE = frozenset({"true", "yes", "1"}), frozenset({"false", "no", "0"})
MAX_ROWS = 10_000
_MISSING = object()


class Problem(msgspec.Struct, frozen=True):
    field: str
    message: str


class RowResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the import does (or would do) with one row; ``row`` counts from 1 (CSV: the
    line number, the header being line 1)."""

    row: int
    code: str
    action: Action
    errors: tuple[Problem, ...] = ()


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    dry_run: bool
    applied: bool
    created: int
    updated: int
    unchanged: int
    errors: int
    rows: tuple[RowResult, ...]


class Planned(msgspec.Struct, frozen=True, kw_only=True):
    """One good row: what to write. ``topics`` None leaves the site's topics alone."""

    row: int
    code: str
    action: Action
    site_id: int | None
    fields: dict[str, Any]
    topics: tuple[NewTopic, ...] | None


# --- reading ------------------------------------------------------------------------------


def parse(body: bytes, fmt: Format) -> list[tuple[int, Any]]:
    """The rows of a file with their numbers; ``ValidationError("file", ...)`` when the
    file itself does not parse (no row can be named then)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("file", "is not UTF-8") from None
    rows = _parse_yaml(text) if fmt == "yaml" else _parse_csv(text)
    if len(rows) > MAX_ROWS:
        raise ValidationError("file", f"at most {MAX_ROWS} sites per import")
    return rows


def _parse_yaml(text: str) -> list[tuple[int, Any]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ValidationError("file", f"is not YAML{line}") from None
    if isinstance(doc, dict):
        doc = doc.get("sites")
    if not isinstance(doc, list):
        raise ValidationError("file", "expected a list of sites, or {sites: [...]}")
    return list(enumerate(doc, start=1))


def _parse_csv(text: str) -> list[tuple[int, Any]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        found = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise ValidationError("file", f"is not CSV: {exc}") from None
    return [(line, _csv_row(row)) for line, row in found]


def _csv_row(row: Mapping[str | None, Any]) -> dict[str, Any]:
    """Typed fields from one CSV row; an empty cell is a field not given."""
    fields: dict[str, Any] = {}
    for name, cell in row.items():
        if name is None or cell is None or cell == "":
            if name is None:  # more cells than columns
                fields["__extra__"] = cell
            continue
        fields[name] = _csv_value(name, cell)
    return fields


def _csv_value(name: str, cell: str) -> Any:
    if name in _INTS and cell.strip().lstrip("-").isdigit():
        return int(cell)
    if name in _BOOLS and cell.strip().lower() in _TRUE | _FALSE:
        return cell.strip().lower() in _TRUE
    if name == "labels":
        pairs = [p.partition("=") for p in cell.split(";") if p.strip()]
        return {k.strip(): v.strip() for k, _, v in pairs}
    if name == "topics":
        try:
            return msgspec.json.decode(cell)
        except msgspec.DecodeError:
            return cell  # refused by the row's check, naming topics
    return cell


# --- planning -----------------------------------------------------------------------------


def plan(rows: Sequence[tuple[int, Any]], sites: Sequence[SiteRecord],
         topics: Mapping[int, Sequence[TopicRecord]]) -> tuple[list[Planned], list[RowResult]]:
    """Check every row against the site rules and what is stored; what to write, and one
    result per row."""
    by_code = {site.code: site for site in sites}
    seen: dict[str, int] = {}
    planned: list[Planned] = []
    results: list[RowResult] = []
    for number, raw in rows:
        code = str(raw.get("code", "")) if isinstance(raw, dict) else ""
        try:
            item = _plan_row(number, raw, by_code, topics, seen)
        except ValidationError as exc:
            problem = Problem(exc.field, str(exc).removeprefix(f"{exc.field}: "))
            results.append(RowResult(row=number, code=code, action="error", errors=(problem,)))
            continue
        seen[item.code] = number
        planned.append(item)
        results.append(RowResult(row=number, code=item.code, action=item.action))
    return planned, results


def _plan_row(number: int, raw: Any, by_code: Mapping[str, SiteRecord],
              topics: Mapping[int, Sequence[TopicRecord]], seen: Mapping[str, int]) -> Planned:
    if not isinstance(raw, dict):
        raise ValidationError("row", "expected a site (an object of fields)")
    fields = dict(raw)
    if "__extra__" in fields:
        raise ValidationError("row", "more cells than columns")
    new_topics = _topics(fields.pop("topics", None))
    code = fields.get("code")
    if not isinstance(code, str) or not code:
        raise ValidationError("code", "required: sites are matched by code")
    if code in seen:
        raise ValidationError("code", f"{code!r} already appears in row {seen[code]}")
    stored = by_code.get(code)
    if stored is None:
        fields = msgspec.structs.asdict(check_new_site(fields))
        return Planned(row=number, code=code, action="create", site_id=None, fields=fields,
                       topics=new_topics)
    # Only what differs from the stored site is checked and written: an exported file gives
    # tls_client_cert_pem without its key, which as a change would have to come with it.
    fields = {k: v for k, v in fields.items()
              if k in SECRET_FIELDS or getattr(stored, k, _MISSING) != v}
    checked = check_site_update(fields)
    changed = {k: v for k, v in msgspec.structs.asdict(checked).items()
               if v is not msgspec.UNSET and k != "code"}
    same_topics = new_topics is None or _same_topics(new_topics, topics.get(stored.id, ()))
    action: Action = "unchanged" if not changed and same_topics else "update"
    return Planned(row=number, code=code, action=action, site_id=stored.id, fields=changed,
                   topics=None if same_topics else new_topics)


def _topics(raw: Any) -> tuple[NewTopic, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ValidationError("topics", "expected a list of topics")
    found = []
    for index, item in enumerate(raw):
        where = f"topics[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(where, "expected a topic (an object of fields)")
        unknown = sorted(set(item) - set(TOPIC_FIELDS))
        if unknown:
            raise ValidationError(f"{where}.{unknown[0]}", "unknown field")
        try:
            topic = msgspec.convert(item, NewTopic)
            Subscription(id=0, **msgspec.structs.asdict(topic))
        except msgspec.ValidationError as exc:
            raise ValidationError(where, str(exc)) from None
        except ValidationError as exc:
            raise ValidationError(f"{where}.{exc.field}",
                                  str(exc).removeprefix(f"{exc.field}: ")) from None
        except TypeError as exc:
            raise ValidationError(where, str(exc)) from None
        found.append(topic)
    return tuple(found)


def _same_topics(new: Sequence[NewTopic], stored: Sequence[TopicRecord]) -> bool:
    def key(t: NewTopic | TopicRecord) -> tuple[Any, ...]:
        return tuple(getattr(t, name) for name in TOPIC_FIELDS)

    return sorted(map(key, new), key=repr) == sorted(map(key, stored), key=repr)


def report(results: Sequence[RowResult], *, dry_run: bool, applied: bool) -> ImportReport:
    def count(action: Action) -> int:
        return sum(1 for r in results if r.action == action)

    return ImportReport(dry_run=dry_run, applied=applied, created=count("create"),
                        updated=count("update"), unchanged=count("unchanged"),
                        errors=count("error"), rows=tuple(results))


# --- writing ------------------------------------------------------------------------------


def export(sites: Sequence[SiteRecord], topics: Mapping[int, Sequence[TopicRecord]],
           fmt: Format) -> str:
    """Every site with its topics, never a secret, in ``fmt``."""
    docs = [_site_doc(site, topics.get(site.id, ())) for site in sites]
    if fmt == "yaml":
        return yaml.safe_dump({"sites": docs}, sort_keys=False, allow_unicode=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*FIELDS, "topics"], lineterminator="\n")
    writer.writeheader()
    for doc in docs:
        row = {k: ("" if v is None else v) for k, v in doc.items()}
        row["labels"] = ";".join(f"{k}={v}" for k, v in doc["labels"].items())
        row["topics"] = msgspec.json.encode(doc["topics"]).decode()
        writer.writerow({k: str(v).lower() if isinstance(v, bool) else v
                         for k, v in row.items()})
    return out.getvalue()


def _site_doc(site: SiteRecord, topics: Sequence[TopicRecord]) -> dict[str, Any]:
    doc: dict[str, Any] = {name: getattr(site, name) for name in FIELDS}
    doc["topics"] = [
        {name: getattr(t, name) for name in TOPIC_FIELDS
         if name != "payload_map" or t.payload_map is not None}
        for t in topics
    ]
    return doc
