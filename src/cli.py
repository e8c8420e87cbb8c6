"""The ``sitelink`` command: serve, demo, simulate, migrate, status, sites, token, alerts.

Commands that only touch storage (``migrate``, ``status``, ``sites``, ``token``) open the
database named by DATABASE_URL, do their work and close it; a running server picks their
changes up at its next reconcile (SITELINK_RECONCILE_S).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import msgspec

from sitelink import __version__, collector, sites_bulk
from sitelink.alerts.model import AlertStateName
from sitelink.cluster.cli_table import show_cluster
from sitelink.errors import SitelinkError
from sitelink.logs import configure_logging
from sitelink.settings import Settings, load_settings
from sitelink.simulate import register as register_simulate
from sitelink.site_rules import check_new_site, parse_broker
from sitelink.storage import alert_state
from sitelink.storage import bulk as bulk_store
from sitelink.storage import sites as site_store
from sitelink.storage import tokens as token_store
from sitelink.storage.audit import append_audit
from sitelink.storage.database import Database, open_database
from sitelink.storage.migrations import migrate
from sitelink.storage.sites import NewSite, SitePatch, SiteRecord

T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (``sitelink sites add: ...``) and
    exits 2, instead of a usage block followed by the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    return _bounded_int(text, 1, 65535)


def _count(text: str) -> int:
    return _bounded_int(text, 0, 100_000)


def _bounded_int(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low} to {high}, got {value}")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0.01 <= value <= 86_400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be 0.01 to 86400 seconds, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
        configure_logging(settings.log_format)
        collector.tune()
        result: int = args.handler(args, settings)
        return result
    except SitelinkError as exc:
        print(f"sitelink: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # serve and demo stop gracefully on Ctrl-C and uvicorn then re-raises the signal:
        # that is the way they are meant to end, not a failure.
        return 0 if args.handler in (_serve, _demo) else 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sitelink", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sitelink {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the server (API, event stream, dashboard)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.set_defaults(handler=_serve)

    demo = sub.add_parser("demo", help="embedded broker, simulated fleet and the dashboard")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=_port, default=8000)
    demo.add_argument("--sites", type=_count, default=3)
    demo.add_argument("--dataloggers", type=_count, default=8)
    demo.add_argument("--interval", type=_interval, default=5.0)
    demo.add_argument("--fresh", action="store_true",
                      help="start from an empty database (deletes its sites, tokens, audit)")
    demo.set_defaults(handler=_demo)

    register_simulate(sub)
    simulate = sub.choices["simulate"]
    handler = simulate.get_default("handler")
    simulate.set_defaults(handler=lambda args, settings: handler(args))

    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        handler=lambda args, s: _run(s, _migrate))
    sub.add_parser("status", help="a table of sites and their status").set_defaults(
        handler=lambda args, s: _run(s, _status))

    sub.add_parser("cluster", help="a table of instances, workers and their sites").set_defaults(
        handler=lambda args, s: _run(s, show_cluster, s, _table))

    alerts = sub.add_parser("alerts", help="a table of firing alerts")
    alerts.add_argument("--all", action="store_true",
                        help="pending and recently resolved alerts too")
    alerts.set_defaults(handler=lambda args, s: _run(s, _alerts, args))

    sites = sub.add_parser("sites", help="add, list, enable, disable or remove sites")
    sites_sub = sites.add_subparsers(title="sites commands", metavar="ACTION", required=True,
                                     parser_class=_Parser)
    add = sites_sub.add_parser("add", help="add a site")
    add.add_argument("code")
    add.add_argument("--name")
    add.add_argument("--broker", required=True, metavar="HOST[:PORT]")
    add.add_argument("--username", default="")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the broker password from standard input (never from argv)")
    add.add_argument("--protocol", choices=["3.1.1", "5"], default="3.1.1")
    add.add_argument("--enable", action="store_true")
    add.set_defaults(handler=lambda args, s: _run(s, _sites_add, _new_site(args, s)))
    sites_sub.add_parser("list", help="list sites").set_defaults(
        handler=lambda args, s: _run(s, _status))
    for action in ("enable", "disable", "remove"):
        p = sites_sub.add_parser(action, help=f"{action} a site (by code or id)")
        p.add_argument("site")
        p.set_defaults(handler=lambda args, s, a=action: _run(s, _sites_change, args, a))

    imports = sites_sub.add_parser(
        "import", help="create or update sites (by code) from a YAML or CSV file, all or nothing")
    imports.add_argument("file", metavar="FILE", help="sites.yaml, sites.yml or sites.csv")
    imports.add_argument("--dry-run", action="store_true", help="only say what would change")
    imports.set_defaults(handler=lambda args, s: _run(s, _sites_import, args, s,
                                                      _read_sites(args.file)))
    exports = sites_sub.add_parser("export", help="every site with its topics, no secrets")
    exports.add_argument("--format", choices=("yaml", "csv"), default="yaml")
    exports.set_defaults(handler=lambda args, s: _run(s, _sites_export, args))

    token = sub.add_parser("token", help="create, list or revoke API tokens")
    token_sub = token.add_subparsers(title="token commands", metavar="ACTION", required=True,
                                     parser_class=_Parser)
    create = token_sub.add_parser("create", help="create a token (printed once)")
    create.add_argument("name")
    create.add_argument("--role", choices=["admin", "viewer"], default="viewer")
    create.set_defaults(handler=lambda args, s: _run(s, _token_create, args))
    token_sub.add_parser("list", help="list tokens").set_defaults(
        handler=lambda args, s: _run(s, _token_list))
    revoke = token_sub.add_parser("revoke", help="revoke a token")
    revoke.add_argument("name")
    revoke.set_defaults(handler=lambda args, s: _run(s, _token_revoke, args))
    return parser


# --- serve and demo ----------------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from sitelink.api.server import serve

    serve(settings, args.host, args.port)
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from sitelink.demo import run_demo

    return run_demo(settings, host=args.host, port=args.port, sites=args.sites,
                    dataloggers=args.dataloggers, interval_s=args.interval, fresh=args.fresh)


# --- storage commands -----------------------------------------------------------------------------


def _run(settings: Settings, work: Callable[..., Awaitable[T]], *args: Any) -> int:
    async def go() -> T:
        db = await open_database(settings)
        try:
            await migrate(db)
            return await work(db, *args)
        finally:
            await db.close()

    result = asyncio.run(go())
    return result if isinstance(result, int) else 0  # a command may give its exit code


async def _migrate(db: Database) -> None:
    print("database is up to date")


async def _status(db: Database) -> None:
    rows = await site_store.list_sites(db)
    if not rows:
        print("no sites")
        return
    table = [("ID", "CODE", "NAME", "BROKER", "ENABLED", "STATUS", "ERROR")]
    for r in rows:
        table.append((str(r.id), r.code, r.name, f"{r.broker_host}:{r.broker_port}",
                      "yes" if r.is_enabled else "no", r.status or "disconnected",
                      r.error_message[:60]))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _ago(start: datetime, now: datetime) -> str:
    seconds = int((now - start).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


async def _alerts(db: Database, args: argparse.Namespace) -> None:
    state = None if args.all else AlertStateName.FIRING
    alerts = await alert_state.list_alerts(db, state=state, limit=1000)
    if not alerts:
        print("no firing alerts" if state else "no alerts")
        return
    codes = {s.id: s.code for s in await site_store.list_sites(db)}
    now = datetime.now(UTC)
    header = ("ID", "STATE", "KIND", "SITE", "SINCE", "FOR", "ACK", "MESSAGE")
    table: list[tuple[str, ...]] = [header]
    for a in alerts:
        since = a.fired_at or a.started_at
        ack = a.acknowledged_by or ("silenced" if a.silenced else "")
        table.append((str(a.id), a.state.value, a.kind.value,
                      codes.get(a.site_id, "") if a.site_id is not None else "",
                      f"{since:%Y-%m-%d %H:%M}", _ago(since, a.resolved_at or now), ack,
                      a.message[:80]))
    _table(table)


async def _find(db: Database, site: str) -> SiteRecord:
    for record in await site_store.list_sites(db):
        if record.code == site or str(record.id) == site:
            return record
    raise SitelinkError(f"no site with code or id {site!r}")


def _new_site(args: argparse.Namespace, settings: Settings) -> NewSite:
    """The site ``sites add`` asks for, checked by the same rules as the API's (before the
    database is opened, so a bad argument costs nothing)."""
    host, port = parse_broker(args.broker)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    site = check_new_site({
        "name": args.name if args.name is not None else args.code, "code": args.code,
        "broker_host": host, "broker_port": port, "username": args.username,
        "password": password, "protocol": args.protocol, "is_enabled": args.enable,
    })
    fields = msgspec.structs.asdict(site)
    if fields["keepalive_s"] is None:
        fields["keepalive_s"] = settings.keep_alive_s
    return NewSite(**fields)


async def _audit(db: Database, action: str, target: str, **detail: Any) -> None:
    """The change in the audit log, as the API's own (same actions), by ``cli:<user>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password file
        user = "unknown"
    await append_audit(db, actor=f"cli:{user}", action=action, target=target, detail=detail)


async def _sites_add(db: Database, site: NewSite) -> None:
    record = await site_store.create_site(db, site)
    await _audit(db, "site.create", record.code, site_id=record.id)
    print(f"site {record.code} added with id {record.id}")


_SITE_ACTIONS = {"enable": "site.start", "disable": "site.stop", "remove": "site.delete"}


async def _sites_change(db: Database, args: argparse.Namespace, action: str) -> None:
    record = await _find(db, args.site)
    if action == "remove":
        await site_store.delete_site(db, record.id)
    else:
        await site_store.update_site(db, record.id, SitePatch(is_enabled=action == "enable"))
    await _audit(db, _SITE_ACTIONS[action], record.code, site_id=record.id)
    print(f"site {record.code}: {action}d")


def _read_sites(file: str) -> list[tuple[int, Any]]:
    """The rows of a sites file (``.csv`` is CSV, anything else YAML), read and parsed
    before the database is opened."""
    path = Path(file)
    fmt: Literal["yaml", "csv"] = "csv" if path.suffix.lower() == ".csv" else "yaml"
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise SitelinkError(f"cannot read {path}: {exc.strerror or exc}") from None
    return sites_bulk.parse(body, fmt)


async def _sites_import(db: Database, args: argparse.Namespace, settings: Settings,
                        rows: list[tuple[int, Any]]) -> int:
    """``sites import FILE``: the per-row report on stdout; exit 1 (nothing written) if a row
    is bad. A running server picks the changes up at its next reconcile."""
    sites, topics = await bulk_store.current(db)
    planned, results = sites_bulk.plan(rows, sites, topics)
    bad = any(r.action == "error" for r in results)
    report = sites_bulk.report(results, dry_run=args.dry_run, applied=not bad and not args.dry_run)
    if report.applied:
        changed = await bulk_store.apply(db, planned, settings.keep_alive_s)
        await _audit(db, "site.import", "", created=report.created, updated=report.updated,
                     sites=len(changed))
    for r in results:
        problems = "; ".join(f"{p.field}: {p.message}" for p in r.errors)
        print(f"row {r.row}: {r.code or '?'} {r.action}" + (f" ({problems})" if problems else ""))
    verdict = ("nothing written: fix the rows above" if bad else
               "dry run: nothing written" if args.dry_run else "written")
    print(f"{report.created} to create, {report.updated} to update, {report.unchanged} "
          f"unchanged, {report.errors} with errors; {verdict}")
    return 1 if bad else 0


async def _sites_export(db: Database, args: argparse.Namespace) -> None:
    sites, topics = await bulk_store.current(db)
    sys.stdout.write(sites_bulk.export(sites, topics, args.format))


async def _token_create(db: Database, args: argparse.Namespace) -> None:
    token = await token_store.create_token(db, args.name, args.role)
    await _audit(db, "token.create", args.name, role=args.role)
    print(f"token {args.name!r} ({args.role}) created; it is shown only this once:")
    print(token)


async def _token_list(db: Database) -> None:
    for t in await token_store.list_tokens(db):
        state = "revoked" if t.revoked else "active"
        print(f"{t.name}\t{t.role}\t{state}\tcreated {t.created_at:%Y-%m-%d %H:%M}")


async def _token_revoke(db: Database, args: argparse.Namespace) -> None:
    await token_store.revoke_token(db, args.name)
    await _audit(db, "token.revoke", args.name)
    print(f"token {args.name!r} revoked")


if __name__ == "__main__":
    raise SystemExit(main())
