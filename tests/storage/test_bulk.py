"""Bulk import and export of sites on SQLite and PostgreSQL: matched by code, created or
updated, idempotent, all or nothing, a per-row report naming row and field, no secrets out."""

from __future__ import annotations

import yaml

from sitelink import sites_bulk
from sitelink.storage import bulk
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site, get_site_config, list_sites

CSI_MAP = {"keys": "head.fields[].name", "values": "data[-1].vals"}
FILE = f"""
sites:
  - code: bari_01
    name: Bari
    broker_host: mqtt.bari.example
    broker_port: 8883
    tls: true
    password: s3cret
    labels: {{region: puglia}}
    topics:
      - pattern: csi/{{model}}/{{serial}}
        payload_version: mapped
        payload_map: {{keys: "{CSI_MAP['keys']}", values: "{CSI_MAP['values']}"}}
      - pattern: spBv1.0/Plant1/+/{{gateway}}/#
        payload_version: sparkplug_b
  - code: lecce_01
    name: Lecce
    broker_host: mqtt.lecce.example
""".encode()


async def run(db: Database, body: bytes, fmt: sites_bulk.Format = "yaml",
              dry_run: bool = False) -> sites_bulk.ImportReport:
    rows = sites_bulk.parse(body, fmt)
    sites, topics = await bulk.current(db)
    planned, results = sites_bulk.plan(rows, sites, topics)
    bad = any(r.action == "error" for r in results)
    if not bad and not dry_run:
        await bulk.apply(db, planned, keep_alive_s=60)
    return sites_bulk.report(results, dry_run=dry_run, applied=not bad and not dry_run)


async def test_import_creates_then_is_idempotent_and_updates_by_code(db: Database) -> None:
    """A new file creates both sites with their topics and secret; the same file again
    changes nothing; a changed field updates only that site."""
    existing = await create_site(db, NewSite(name="Old", code="lecce_01", broker_host="old"))
    first = await run(db, FILE)
    assert [(r.row, r.code, r.action) for r in first.rows] == [
        (1, "bari_01", "create"), (2, "lecce_01", "update")]
    bari = next(s for s in await list_sites(db) if s.code == "bari_01")
    config = await get_site_config(db, bari.id)
    assert config.password == "s3cret" and bari.labels == {"region": "puglia"}
    assert sorted(t.payload_version for t in config.topics) == ["mapped", "sparkplug_b"]
    lecce = next(s for s in await list_sites(db) if s.id == existing.id)
    assert lecce.broker_host == "mqtt.lecce.example"

    again = await run(db, FILE.replace(b"    password: s3cret\n", b""))
    assert [r.action for r in again.rows] == ["unchanged", "unchanged"]
    moved = await run(db, FILE.replace(b"mqtt.lecce.example", b"mqtt2.lecce.example"))
    assert [r.action for r in moved.rows] == ["update", "update"]  # bari: its password


async def test_a_bad_row_writes_nothing_and_is_named(db: Database) -> None:
    """One bad row (a port out of range, a map that does not compile, a repeated code):
    nothing is written, and each error names its row and field."""
    body = b"""
sites:
  - {code: ok_1, name: A, broker_host: h}
  - {code: bad_port, name: B, broker_host: h, broker_port: 70000}
  - code: bad_map
    name: C
    broker_host: h
    topics: [{pattern: "a/{serial}", payload_version: mapped, payload_map: {keys: "a[", values: b}}]
  - {code: ok_1, name: D, broker_host: h}
"""
    report = await run(db, body)
    assert not report.applied and report.errors == 3
    errors = {r.row: (r.code, r.errors[0].field) for r in report.rows if r.errors}
    assert errors == {2: ("bad_port", "broker_port"), 3: ("bad_map", "topics[0].payload_map.keys"),
                      4: ("ok_1", "code")}
    assert await list_sites(db) == []


async def test_dry_run_reports_and_writes_nothing(db: Database) -> None:
    """dry_run: the report of a good file, and no site written."""
    report = await run(db, FILE, dry_run=True)
    assert (report.created, report.applied) == (2, False)
    assert await list_sites(db) == []


async def test_export_round_trips_in_yaml_and_csv_without_secrets(db: Database) -> None:
    """Export in YAML and CSV, never a password; importing either back changes nothing."""
    await run(db, FILE)
    sites, topics = await bulk.current(db)
    for fmt in ("yaml", "csv"):
        text = sites_bulk.export(sites, topics, fmt)  # type: ignore[arg-type]
        assert "s3cret" not in text and "password" not in text
        assert "tls_client_key_pem" not in text
        back = await run(db, text.encode(), fmt)  # type: ignore[arg-type]
        assert [r.action for r in back.rows] == ["unchanged", "unchanged"], (fmt, back)
    doc = yaml.safe_load(sites_bulk.export(sites, topics, "yaml"))
    assert doc["sites"][0]["labels"] == {"region": "puglia"}
    assert doc["sites"][0]["topics"][0]["payload_map"] == CSI_MAP


async def test_csv_rows_are_typed_and_named_by_line(db: Database) -> None:
    """CSV cells are read as their field's type; a bad cell names its line and column."""
    body = (b"code,name,broker_host,broker_port,is_enabled,labels\n"
            b"c1,One,h,1884,true,region=puglia;tier=1\n"
            b"c2,Two,h,not-a-port,false,\n")
    report = await run(db, body, "csv")
    assert [(r.row, r.action) for r in report.rows] == [(2, "create"), (3, "error")]
    assert report.rows[1].errors[0].field == "broker_port"
