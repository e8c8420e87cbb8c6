"""The cluster's event log on a real PostgreSQL (a database of its own per test module).

Pins: ids are handed out in commit order, so a reader that polls "after my last id" while
several writers append never misses a row; two instances' hubs fed by the log end with the
same events under the same ids; pruning keeps the newest rows and each site's latest status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import msgspec
import pytest

from integration.live import pg_database, require_postgres
from sitelink.cluster import eventlog, logged
from sitelink.cluster.eventlog import NewRow
from sitelink.cluster.replication import Replication
from sitelink.events import ConnectionStatus, SiteStatusChanged
from sitelink.fanout import EventFilter, Hub

pytestmark = pytest.mark.postgres
ONE = ConnectionStatus.CONNECTED


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    require_postgres()
    with pg_database() as url:
        yield url


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=8)
    async with pool.acquire() as connection:
        await connection.execute(eventlog.TABLE_DDL)
        await connection.execute(eventlog.LATEST_INDEX_DDL)
        await connection.execute(eventlog.SEQ_INDEX_DDL)
        await connection.execute("TRUNCATE sitelink_event_log RESTART IDENTITY")
    yield pool
    await pool.close()


def public(n: int, writer: int) -> NewRow:
    return NewRow(site_id=writer, type="site.changed",
                  data=msgspec.json.encode({"writer": writer, "n": n}))


def status(site_id: int, value: ConnectionStatus, at: float) -> NewRow:
    """A state row: no SSE id."""
    state = SiteStatusChanged(site_id=site_id, code=f"s{site_id}", status=value, is_enabled=True,
                              error_message="", retry_count=0, next_retry_at=None, client_id="c",
                              last_connected_at=None, topics=(), handler_running=True, at=at)
    return NewRow(site_id=site_id, kind=logged.kind_of(state), state=logged.encode(state))


async def test_a_reader_after_its_last_id_misses_nothing_while_writers_append_concurrently(
        pool: asyncpg.Pool) -> None:
    written: list[int] = []
    public_seqs: list[int] = []
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for n in range(40):
            numbered = await eventlog.append(pool, f"w{w}", [public(n, w), status(w, ONE, n)])
            written.extend(i for i, _ in numbered)
            public_seqs.extend(s for _, s in numbered if s is not None)

    async def reader() -> list[int]:
        seen: list[int] = []
        while True:
            finished = done.is_set()
            rows = await eventlog.after(pool, seen[-1] if seen else 0)
            seen.extend(r.id for r in rows)
            if finished and not rows:
                return seen
            await asyncio.sleep(0)

    reading = asyncio.ensure_future(reader())
    await asyncio.gather(*(writer(w) for w in range(4)))
    done.set()
    seen = await reading
    assert sorted(written) == seen  # every row, each once, in id order
    assert seen == list(range(1, 4 * 40 * 2 + 1))  # and no id skipped
    assert sorted(public_seqs) == list(range(1, 4 * 40 + 1))  # SSE ids: one more each time


async def test_two_instances_hubs_hold_the_same_events_under_the_same_ids(
        pool: asyncpg.Pool, dsn: str) -> None:
    hubs = [Hub(), Hub()]
    replications = [Replication(pool, dsn, hub, retention_s=3600) for hub in hubs]
    subscribers = [hub.subscribe(EventFilter(), None) for hub in hubs]
    for replication, hub in zip(replications, hubs, strict=True):
        hub.log = replication
        await replication.start(lambda _state: None)
    try:
        for n in range(30):
            hubs[n % 2].publish("site.changed", 1, {"n": n, "from": n % 2})
            await asyncio.sleep(0)

        got: list[list[tuple[int, bytes]]] = [[], []]

        async def collect(i: int) -> None:
            while len(got[i]) < 30:
                await subscribers[i].wait(1.0)
                got[i].extend((e.id, e.data) for e in subscribers[i].take())

        await asyncio.wait_for(asyncio.gather(collect(0), collect(1)), 10)
        assert got[0] == got[1]
        assert [i for i, _ in got[0]] == list(range(1, 31))  # one more each time
        assert sorted(msgspec.json.decode(d)["n"] for _, d in got[0]) == list(range(30))
    finally:
        for replication in replications:
            await replication.stop()


async def test_pruning_keeps_the_newest_rows_and_each_site_s_latest_status(
        pool: asyncpg.Pool) -> None:
    await eventlog.append(pool, "a", [status(1, ConnectionStatus.CONNECTING, 1.0),
                                      status(1, ConnectionStatus.CONNECTED, 2.0),
                                      status(2, ConnectionStatus.ERROR, 3.0)])
    await eventlog.append(pool, "a", [public(n, 9) for n in range(20)])
    async with pool.acquire() as connection:
        await connection.execute("UPDATE sitelink_event_log SET at = now() - interval '2 hours'"
                                 " WHERE id <= 13")
    pruned = await eventlog.prune(pool, retention_s=3600, keep_rows=10)
    rows = await eventlog.after(pool, 0)
    # ids 1..23: 1-13 are old; of those the newest 10 (14..23) protect nothing below 13,
    # and the latest statuses of sites 1 and 2 (ids 2 and 3) stay
    assert [r.id for r in rows] == [2, 3, *range(14, 24)]
    assert pruned == 11
    latest = [logged.decode(r.state) for r in await eventlog.latest_states(pool, 100)
              if r.state is not None]
    # only state rows are new: the last public row stays, or SSE ids would start again
    await eventlog.append(pool, "a", [status(3, ONE, float(n)) for n in range(12)])
    async with pool.acquire() as connection:
        await connection.execute("UPDATE sitelink_event_log SET at = now() - interval '2 hours'")
    await eventlog.prune(pool, retention_s=3600, keep_rows=10)
    assert [r.seq for r in await eventlog.after(pool, 0) if r.seq is not None] == [20]
    [(_, seq)] = await eventlog.append(pool, "a", [public(99, 9)])
    assert seq == 21
    assert [(s.site_id, getattr(s, "status", None)) for s in latest] == [
        (1, ConnectionStatus.CONNECTED), (2, ConnectionStatus.ERROR)]
