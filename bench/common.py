"""What every benchmark shares: results, statistics, the real server in a subprocess, an SSE
reader, /proc readings, and a database seeded before a cold start.

Benchmarks never fail on speed: they measure, compare with a baseline taken in the same run
(these machines are noisy), and print. A ``Section`` is what one benchmark returns; its rows
are what ``python -m bench`` copies into bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from sitelink.embedded_broker import free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- results -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One figure beside its baseline. ``met`` is "yes", "no" or "" (no target)."""

    metric: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    def add(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)

    def table(self) -> str:
        return render_table(self.rows)

    def print(self) -> None:
        print(f"\n## {self.title}  ({self.seconds:.0f} s)")
        if self.error:
            print(f"ERROR: {self.error}")
        print(self.table())
        for note in self.notes:
            print(f"- {note}")


# A SQLite instance's readings are in two tables (sitelink.storage.recent), ids unique
# across both: read with sqlite3 from a bench, as the server writes.
READINGS_COUNT_SQL = ("SELECT (SELECT count(*) FROM reading) "
                      "+ (SELECT count(*) FROM reading_recent)")
READINGS_MAX_ID_SQL = ("SELECT coalesce(max(m), 0) FROM (SELECT max(id) AS m FROM reading "
                       "UNION ALL SELECT max(id) FROM reading_recent)")


def render_table(rows: Sequence[Row]) -> str:
    head = ("metric", "value", "baseline (same run)", "ratio", "target", "met")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = (r.metric, r.value, r.baseline, r.ratio, r.target, r.met)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def met(ok: bool) -> str:
    return "yes" if ok else "no"


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"


def rate(per_s: float) -> str:
    return f"{per_s:,.0f}/s"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "—"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": str(os.cpu_count()),
        "cpu model": model,
        "python": sys.version.split()[0],
        "load average at start": load,
    }


def run_section(key: str, title: str, body: Callable[[Section], None]) -> Section:
    """Run one benchmark body; an exception is recorded, never raised (benchmarks print)."""
    section = Section(key, title)
    started = time.monotonic()
    try:
        body(section)
    except Exception as exc:  # a benchmark that breaks says so in the results
        import traceback

        traceback.print_exc()
        section.error = f"{type(exc).__name__}: {exc}"
    section.seconds = time.monotonic() - started
    return section


def main_for(run: Callable[[], Section]) -> None:
    """``python -m bench.x``: run one benchmark and print its table."""
    section = run()
    section.print()


# --- /proc ---------------------------------------------------------------------------------------


def die_with_parent() -> None:
    """``preexec_fn`` for benchmark children: SIGTERM when the bench process dies, so a
    bench killed by a timeout leaves no server with 10,000 threads behind."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (sitelink's storage writer is a child process: what a
    process costs includes its children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _stat_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # exited meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_field(pid: int, name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    return 0


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads and children) so far."""
    return sum(_stat_cpu_s(p) for p in process_tree(pid))


def _role(p: int) -> str:
    """``main``, ``writer`` (the storage writer) or ``worker-PID`` (a site worker)."""
    argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
    return ("writer" if b"sitelink.storage.writer_child" in argv
            else f"worker-{p}" if b"sitelink.workers.child" in argv else "main")


def cpu_by_process(pid: int) -> dict[str, float]:
    """CPU seconds so far of sitelink's processes by role (``_role``)."""
    found: dict[str, float] = {}
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            name = _role(p)
            found[name] = found.get(name, 0.0) + _stat_cpu_s(p)
    return found


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds so far of sitelink's live threads by process role and OS thread name
    (``sitelink.thread_names``: ``paho``, ``site``, ``outbox``, ``clock``, ``worker-N``; the
    rest ``python``), the site workers together: ``workers/paho``, ``main/python``, ... From
    ``schedstat`` (nanoseconds): a thread's ``stat`` counts whole ticks, and a few hundred
    threads each under a tick would all read 0."""
    found: dict[str, float] = {}
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            role = _role(p)
            role = "workers" if role.startswith("worker-") else role
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    key = f"{role}/{(task / 'comm').read_text().strip()}"
                    ns = int((task / "schedstat").read_text().split()[0])
                    found[key] = found.get(key, 0.0) + ns / 1e9
    return found


def cpu_split(before: dict[str, float], after: dict[str, float], per: float,
              unit: str = "ms", scale: float = 1000.0, least: float = 0.05) -> str:
    """What each key of ``after`` spent since ``before``, divided by ``per``, largest first:
    ``"workers/paho 4.6 ms, ..."`` (keys under ``least`` left out)."""
    spent = {k: (v - before.get(k, 0.0)) * scale / per for k, v in after.items()}
    return ", ".join(f"{k} {v:.1f} {unit}" for k, v in sorted(spent.items(), key=lambda i: -i[1])
                     if v >= least)


def proc_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    return sum(_status_field(p, "VmRSS:") for p in process_tree(pid)) * 1024


def proc_threads(pid: int) -> int:
    """Threads of a process and its children."""
    return sum(_status_field(p, "Threads:") for p in process_tree(pid))


# --- the real server in a subprocess -------------------------------------------------------------

_SERVE = "import sys; from sitelink.cli import main; sys.exit(main(sys.argv[1:]))"


class Server:
    """``sitelink serve`` in a subprocess with its own SQLite file (or ``database_url``), an
    admin token and JSON logs in ``workdir/server.log``. Settings come from ``env``."""

    def __init__(
        self,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        database_url: str | None = None,
        name: str = "server",
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.token = "bench-" + secrets.token_hex(16)
        self.db_path = workdir / f"{name}.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SITELINK_ADMIN_TOKEN": self.token,
            "SITELINK_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "SITELINK_LOG_FORMAT": "json",
            "MQTT_INSTANCE_ID": "bench",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH", "")])),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 60.0) -> float:
        """Spawn and wait until the API answers; returns seconds from spawn to first answer."""
        log = self.log_path.open("ab")
        argv = [PY, "-c", _SERVE, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.spawned_at = time.monotonic()
        self.process = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            preexec_fn=die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/api/v1/mqtt/health/", timeout=2).status_code in (200, 503):
                    return time.monotonic() - self.spawned_at
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer within {timeout_s} s: {self.log_tail()}")

    def stop(self, timeout_s: float = 60.0) -> float:
        """SIGTERM and wait; SIGKILL after ``timeout_s``. Returns seconds taken."""
        started = time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()
        return time.monotonic() - started

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    # --- API --------------------------------------------------------------------------------------

    def create_site(self, code: str, broker_port: int, *, enabled: bool = False,
                    **fields: Any) -> int:
        body = {"name": code, "code": code, "broker_host": "127.0.0.1",
                "broker_port": broker_port, "is_enabled": enabled, **fields}
        response = self.http.post("/api/v1/mqtt/sites/", json=body)
        response.raise_for_status()
        return int(response.json()["site_id"])

    def start_site(self, site_id: int) -> None:
        self.http.post(f"/api/v1/mqtt/sites/{site_id}/start/").raise_for_status()

    def stop_site(self, site_id: int) -> None:
        self.http.post(f"/api/v1/mqtt/sites/{site_id}/stop/").raise_for_status()

    def status(self, site_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/mqtt/sites/{site_id}/status/")
        response.raise_for_status()
        return dict(response.json())

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as {name{labels}: value} (comments dropped)."""
        text = self.http.get("/metrics").text
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    found[name] = float(value)
        return found


# --- the event stream ----------------------------------------------------------------------------


@dataclass
class Arrival:
    t: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    type: str
    id: str
    data: dict[str, Any]


class EventStream:
    """Reads ``GET /api/v1/events`` on a thread (httpx-sse) and stamps each event on arrival."""

    def __init__(self, server: Server, params: dict[str, Any] | None = None) -> None:
        self.server = server
        self.params = params or {}
        self.arrivals: queue.Queue[Arrival] = queue.Queue()
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._client = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=httpx.Timeout(10.0, read=None),
        )
        self._thread = threading.Thread(target=self._run, name="sse-reader", daemon=True)

    def start(self, timeout_s: float = 10.0) -> EventStream:
        self._thread.start()
        if not self.connected.wait(timeout_s):
            raise RuntimeError(f"event stream did not open: {self.error!r}")
        return self

    def _run(self) -> None:
        from httpx_sse import connect_sse

        try:
            with connect_sse(self._client, "GET", "/api/v1/events", params=self.params) as source:
                self.connected.set()
                for sse in source.iter_sse():
                    if not sse.event or sse.event == "message":
                        continue
                    now, wall = time.monotonic(), time.time()
                    data = json.loads(sse.data) if sse.data else {}
                    self.arrivals.put(Arrival(now, wall, sse.event, sse.id, data))
        except Exception as exc:  # the stream ends when the server stops
            self.error = exc
        finally:
            self.connected.set()

    def wait_for(self, predicate: Callable[[Arrival], bool], timeout_s: float) -> Arrival | None:
        """The next arrival that matches (others are discarded), or None at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                arrival = self.arrivals.get(timeout=left)
            except queue.Empty:
                return None
            if predicate(arrival):
                return arrival

    def drain(self) -> list[Arrival]:
        got = []
        while True:
            try:
                got.append(self.arrivals.get_nowait())
            except queue.Empty:
                return got

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


def site_status(site_id: int, *statuses: str) -> Callable[[Arrival], bool]:
    def matches(a: Arrival) -> bool:
        return (a.type == "site.status" and a.data.get("site_id") == site_id
                and a.data.get("status") in statuses)

    return matches


def iso_to_unix(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- helpers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"sitelink-bench-{prefix}-") as tmp:
        yield Path(tmp)


def seed_sites(database_url: str, sites: Sequence[dict[str, Any]],
               secret_key: str = "bench-secret-key-0123456789abcdef") -> list[int]:
    """Create sites in storage before the server starts (a cold start finds them there)."""
    from sitelink.settings import Settings
    from sitelink.storage import sites as site_store
    from sitelink.storage.database import open_database
    from sitelink.storage.migrations import migrate

    async def seed() -> list[int]:
        db = await open_database(Settings(database_url=database_url, secret_key=secret_key))
        try:
            await migrate(db)
            ids = []
            for fields in sites:
                record = await site_store.create_site(db, site_store.NewSite(**fields))
                ids.append(record.id)
            return ids
        finally:
            await db.close()

    return asyncio.run(seed())


def wait_until(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()
