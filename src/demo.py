"""``sitelink demo``: the whole system on one machine with nothing else running.

Starts an embedded MQTT broker (Mosquitto when installed, else amqtt) on a free loopback
port, makes sure the demo sites exist and point at it, starts a simulated fleet, and
serves the API and dashboard. Ctrl-C stops the server, then the fleet, then the broker.

The demo keeps its data apart from ``sitelink serve``: when DATABASE_URL is left at its
default, it uses ``./sitelink-demo.db`` instead of ``./sitelink.db``, because the demo points
its sites at a broker on a port that exists only while the demo runs. It prints the
``export DATABASE_URL=...`` line (an absolute path) that points the other commands
(``sitelink status``, ``sitelink token create``) at that same database. A second run keeps
what the first left (sites made in the dashboard too) and says how many sites there are;
``--fresh`` empties the database first.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import socket
from pathlib import Path

import msgspec

from sitelink import instance_lock
from sitelink.embedded_broker import EmbeddedBroker
from sitelink.settings import Settings
from sitelink.simulate import SimulateOptions, Simulator
from sitelink.storage import recent
from sitelink.storage import sites as site_store
from sitelink.storage import topics as topic_store
from sitelink.storage.database import open_database
from sitelink.storage.migrations import migrate
from sitelink.storage.sites import NewSite, SitePatch
from sitelink.storage.tables import ApiToken, AuditEntry, Site
from sitelink.storage.topics import TopicPatch

DEMO_DATABASE_URL = "sqlite:///./sitelink-demo.db"


def demo_database_url(settings: Settings) -> str:
    """The demo's database: DATABASE_URL when set, else ./sitelink-demo.db; a relative SQLite
    path is made absolute, so the printed export line works from any directory."""
    url = settings.database_url
    if url == Settings().database_url:
        url = DEMO_DATABASE_URL
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.removeprefix(prefix).startswith("/"):
        url = prefix + str(Path(url.removeprefix(prefix)).resolve())
    return url


async def prepare_sites(settings: Settings, host: str, port: int, count: int, *,
                        fresh: bool = False) -> int:
    """Make the demo sites exist and point at the broker; with ``fresh`` delete every site,
    token and audit entry first (devices, sensors and readings go with their sites).
    Returns how many sites the database holds now, the demo's and any others."""
    db = await open_database(settings)
    try:
        await migrate(db)
        if fresh:
            async with db.transaction():
                await recent.delete_of(db, None)
                for table in (Site, ApiToken, AuditEntry):
                    await db.execute(f'DELETE FROM "{table._meta.tablename}"')
        existing = {s.code: s for s in await site_store.list_sites(db)}
        for i in range(1, count + 1):
            code = f"site_{i:03d}"
            if code in existing:
                site = await site_store.update_site(db, existing[code].id, SitePatch(
                    broker_host=host, broker_port=port, is_enabled=True))
            else:
                site = await site_store.create_site(db, NewSite(
                    name=f"Site {i:03d}", code=code, broker_host=host, broker_port=port,
                    is_enabled=True, offline_after_s=30))
            # The fleet speaks v2 on even-numbered sites (payload_version="by-site"): their
            # heartbeat subscriptions decode v2, as a real mixed fleet would be set up.
            version = "v2" if i % 2 == 0 else "v1"
            for topic in await topic_store.list_topics(db, site.id):
                if topic.message_kind == "heartbeat" and topic.payload_version != version:
                    await topic_store.update_topic(db, site.id, topic.id,
                                                   TopicPatch(payload_version=version))
        return len(await site_store.list_sites(db))
    finally:
        await db.close()


def run_demo(settings: Settings, *, host: str, port: int, sites: int, dataloggers: int,
             interval_s: float, fresh: bool = False) -> int:
    """The port and the instance lock come first: a demo that cannot serve prints one line
    (``SitelinkError``) and starts nothing, never a URL and a token that belong to nothing."""
    from sitelink.api.server import listen

    token = settings.admin_token or secrets.token_urlsafe(24)
    database_url = demo_database_url(settings)
    settings = msgspec.structs.replace(settings, admin_token=token, database_url=database_url)
    sock = listen(host, port)
    try:
        lock = instance_lock.hold(settings, f"{host}:{port}")
        try:
            return _run(settings, sock, host=host, port=port, sites=sites,
                        dataloggers=dataloggers, interval_s=interval_s, fresh=fresh)
        finally:
            if lock is not None:
                lock.release()
    finally:
        sock.close()


def _run(settings: Settings, sock: socket.socket, *, host: str, port: int, sites: int,
         dataloggers: int, interval_s: float, fresh: bool) -> int:
    from sitelink.api.server import build_server

    token, database_url = settings.admin_token, settings.database_url
    broker = EmbeddedBroker()
    broker.start()
    try:
        total = asyncio.run(prepare_sites(settings, "127.0.0.1", broker.port, sites, fresh=fresh))
        simulator = Simulator(SimulateOptions(
            host="127.0.0.1", port=broker.port, sites=sites, dataloggers=dataloggers,
            gateways=1, interval_s=interval_s, payload_version="by-site", flaky=0.02,
            progress=False))
        simulator.start()
        try:
            server = build_server(settings, host, port)
            kept = total - sites
            others = (f" (and {kept} more kept from earlier runs; --fresh starts empty)"
                      if kept > 0 else "")
            print(f"sitelink demo: broker ({broker.kind}) on 127.0.0.1:{broker.port}, "
                  f"{sites} simulated sites x {dataloggers} dataloggers{others}, "
                  f"database {database_url}", flush=True)
            print("the other sitelink commands reach this database with:", flush=True)
            print(f"export DATABASE_URL={shlex.quote(database_url)}", flush=True)
            print(f"dashboard: http://{host}:{port}/", flush=True)
            print(f"admin token: {token}", flush=True)
            server.run(sockets=[sock])
        finally:
            simulator.stop()
    finally:
        broker.close()
    return 0
