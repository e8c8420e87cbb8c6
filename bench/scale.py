"""4. Scale: 500 sites x 20 dataloggers (10,000 device actors) in one process, cold start.

One Mosquitto; the fleet is ``sitelink simulate`` in a process of its own (500 clients,
QoS 0 heartbeats every 30 s, so 333 msg/s), measured separately. The 500 sites are written
to storage before the server starts (enabled); the server then starts cold and the clock
runs from its spawn:

- until every site is ``connected`` (health's count, asked every 0.2 s: ``/metrics``, which
  walks every actor, once a second would add up to a second to this figure);
- until every device is ``online`` (sitelink_devices). A device is online at its first live
  heartbeat after its site connected (retained statuses are not a sign of life), so this
  is bounded below by the heartbeat interval;
- then, after ``SETTLE_S`` (the simulator, slowed down by the cold start beside it, catches
  up with a burst that is not idle traffic), RSS, threads, and CPU over ``--idle`` seconds
  (default 30: one heartbeat interval) of the steady fleet, for the server (with its
  storage writer process), the simulator and the broker, each from /proc.

Baselines, same run: the connect-rate cap (SITELINK_CONNECT_RATE, default 50/s: 500 sites
cannot all connect in less than 10 s), an empty server's RSS and threads, and a bare paho
fleet (bench/paho_fleet.py: one client and one network thread per site, json.loads only)
for the same traffic, CPU measured the same way, before and after sitelink's run (the
baseline is their mean: the machine's load drifts over the minutes between), and the same
clients driven from one network thread (proposal P4's design). The thread-per-client fleet
runs as processes of 250 clients: in one process, paho's select() failed every client past
the ~340th, and the baseline took a third (500 sites) or five sixths (2,000) less traffic
than sitelink did. Each side's messages a second over its window are in the notes.

Run alone: ``python -m bench.scale [--sites 500] [--dataloggers 20] [--idle 30]``
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench import paho_fleet
from bench.common import (
    PY,
    REPO,
    Section,
    Server,
    cpu_by_process,
    cpu_by_thread,
    cpu_split,
    die_with_parent,
    main_for,
    met,
    proc_cpu_s,
    proc_rss_bytes,
    proc_threads,
    ratio,
    run_section,
    seed_sites,
    workdir,
)
from sitelink.embedded_broker import Mosquitto

INTERVAL_S = 30.0
COLD_START_LIMIT_S = 70.0
SCRAPE_EVERY_S = 1.0  # /metrics walks every actor and site: not too often
HEALTH_EVERY_S = 0.2  # health only counts sites: the clock of "all connected"
SETTLE_S = 10.0  # after the cold start, before the idle measurement
CONNECT_RATE = 50.0
_CLI = "import sys; from sitelink.cli import main; sys.exit(main(sys.argv[1:]))"


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _empty_server(tmp_name: str, tmp: Path) -> tuple[int, int]:
    """RSS and threads of a started server with no sites (after 2 s)."""
    server = Server(tmp, name=tmp_name)
    server.start()
    try:
        time.sleep(2)
        return proc_rss_bytes(server.pid), proc_threads(server.pid)
    finally:
        server.stop()


def _cold_start(tmp: Path, broker: Mosquitto, sites: int, dataloggers: int, idle_s: float,
                simulator_pid: int, name: str) -> dict[str, Any]:
    """Seed storage, start a server cold, wait for the fleet, measure; stop the server."""
    devices = sites * dataloggers
    port = broker.port
    broker_pid = broker._process.pid if broker._process else 0
    server = Server(tmp, name=name)
    server.http.timeout = httpx.Timeout(5.0)
    codes = [f"site_{n:03d}" for n in range(1, sites + 1)]
    seed_sites(server.database_url, [
        {"name": code, "code": code, "broker_host": "127.0.0.1", "broker_port": port,
         "is_enabled": True} for code in codes])
    got: dict[str, Any] = {"connected_s": None, "connected": 0, "online_s": None,
                           "slow_scrapes": 0, "peak_threads": 0}
    connected_key = 'sitelink_connections{status="connected"}'
    online_key = 'sitelink_devices{availability="online"}'
    try:
        got["api_s"] = server.start(timeout_s=120)
        deadline = server.spawned_at + COLD_START_LIMIT_S
        seen: dict[str, float] = {}
        while time.monotonic() < deadline and got["online_s"] is None:
            connecting = got["connected_s"] is None
            time.sleep(HEALTH_EVERY_S if connecting else SCRAPE_EVERY_S)
            try:
                if connecting:  # health counts the connected sites; /metrics adds the rest
                    got["connected"] = server.http.get("/api/v1/mqtt/health/").json()[
                        "connections"]["healthy"]
                    if got["connected"] < sites:
                        continue
                    got["connected_s"] = time.monotonic() - server.spawned_at
                seen = server.metrics()
            except httpx.HTTPError:
                got["slow_scrapes"] += 1  # the event loop did not answer within 5 s
                continue
            now = time.monotonic() - server.spawned_at
            threads = proc_threads(server.pid)
            got["peak_threads"] = max(got["peak_threads"], threads)
            if os.environ.get("BENCH_VERBOSE"):
                print(f"{name} {now:6.1f} s connected {seen.get(connected_key, 0):.0f} "
                      f"online {seen.get(online_key, 0):.0f} threads {threads}", flush=True)
            if seen.get(online_key, 0) >= devices:
                got["online_s"] = now
        # what the broker saw, whatever the API says (its read model may lag behind)
        got["at_broker"] = len(set(re.findall(r" as bench-(site_\d+) ", broker.log())))
        got["online"] = int(seen.get(online_key, 0))
        got["waited_s"] = time.monotonic() - server.spawned_at
        got["threads"] = proc_threads(server.pid)
        pids = {"server": server.pid, "simulator": simulator_pid, "broker": broker_pid}
        if got["online_s"] is not None:
            time.sleep(SETTLE_S)
        received0, at0 = _received(_scrape(server)), time.monotonic()
        cpu0 = {k: proc_cpu_s(p) for k, p in pids.items()}
        split0, threads0 = cpu_by_process(server.pid), cpu_by_thread(server.pid)
        t0 = time.monotonic()
        time.sleep(idle_s)
        elapsed = time.monotonic() - t0
        got["cpu"] = {k: (proc_cpu_s(p) - cpu0[k]) / elapsed for k, p in pids.items()}
        got["split"] = {k: (v - split0.get(k, 0.0)) / elapsed
                        for k, v in cpu_by_process(server.pid).items()}
        got["cpu_by_thread"] = cpu_split(threads0, cpu_by_thread(server.pid), elapsed,
                                         unit="%", scale=100.0)
        got["rss"] = proc_rss_bytes(server.pid)
        got["final"] = _scrape(server)
        got["msgs_per_s"] = (_received(got["final"]) - received0) / (time.monotonic() - at0)
    finally:
        got["stop_s"] = server.stop(timeout_s=30)
    return got


def _scrape(server: Server) -> dict[str, float]:
    """/metrics, or nothing when it did not answer."""
    try:
        return server.metrics()
    except httpx.HTTPError:
        return {}


def _received(metrics: dict[str, float]) -> float:
    """Messages every site received so far, from a scrape (nan from none)."""
    counts = [v for k, v in metrics.items() if k.startswith("sitelink_messages_received")]
    return sum(counts) if counts else math.nan


def _rows(section: Section, label: str, got: dict[str, Any], sites: int, devices: int,
          base_rss: int, base_threads: int, bare: dict[str, float]) -> None:
    floor = sites / CONNECT_RATE
    connected = got["connected_s"]
    section.add(f"{label}: cold start -> all {sites} sites connected",
                f"{connected:.1f} s" if connected else
                f"{got['connected']} of {sites} after {got['waited_s']:.0f} s (the broker had "
                f"{got['at_broker']})",
                f"connect-rate cap {floor:.0f} s", "", f"≤ cap + 3 s ({floor + 3:.0f} s)",
                met(connected is not None and connected <= floor + 3))
    online = got["online_s"]
    section.add(f"{label}: cold start -> all {devices:,} devices online",
                f"{online:.1f} s" if online else
                f"{got['online']:,} of {devices:,} after {got['waited_s']:.0f} s",
                f"connected + heartbeat interval {INTERVAL_S:.0f} s")
    rss_limit = 1.0 if devices <= 10_000 else 1.5  # issue 15: 500 x 20, then 2,000 x 10
    section.add(f"{label}: RSS", _mib(got["rss"]),
                f"empty server {_mib(base_rss)}; bare paho fleet {_mib(int(bare['rss']))}", "",
                f"< {rss_limit:g} GiB", met(got["rss"] < rss_limit * 2**30))
    section.add(f"{label}: threads", f"{got['threads']:,} (peak {got['peak_threads']:,})",
                f"empty server {base_threads}; bare paho fleet {int(bare['threads'])}")
    cpu = got["cpu"]
    section.add(f"{label}: CPU with the fleet idle ({devices / INTERVAL_S:.0f} heartbeats/s)",
                f"{cpu['server'] * 100:.1f} % of a core",
                f"bare paho fleet {bare['cpu'] * 100:.1f} % ({bare['cpu_before'] * 100:.1f} "
                f"before, {bare['cpu_after'] * 100:.1f} after); simulator "
                f"{cpu['simulator'] * 100:.1f} %", ratio(cpu["server"], bare["cpu"]),
                "≤ 1.5x bare paho", met(cpu["server"] <= 1.5 * bare["cpu"]))
    section.note(f"{label}: messages received a second over the idle window: "
                 f"{got['msgs_per_s']:.0f}; the bare paho fleet's "
                 f"{bare['msgs_before']:.0f} before, {bare['msgs_after']:.0f} after (the "
                 f"fleet sends {devices / INTERVAL_S:.0f}; more is a simulator catching up)")
    section.note(f"{label}: idle CPU by process: " + ", ".join(
        f"{k} {v * 100:.1f} %" for k, v in sorted(got["split"].items())))
    section.note(f"{label}: idle CPU by thread (% of a core, the site workers together): "
                 f"{got['cpu_by_thread']}")
    final = got["final"]
    section.note(f"{label}: API answered {got['api_s']:.1f} s after spawn; shutdown "
                 f"{got['stop_s']:.1f} s; actors {int(final.get('sitelink_actors', 0)):,}; "
                 f"storage lag at the end {int(final.get('sitelink_storage_lag_events', 0))} "
                 f"events; /metrics scrapes unanswered within 5 s: {got['slow_scrapes']}")


def _simulator(port: int, sites: int, dataloggers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PY, "-c", _CLI, "simulate", "--broker", f"127.0.0.1:{port}",
         "--sites", str(sites), "--dataloggers", str(dataloggers), "--gateways", "0",
         "--interval", str(INTERVAL_S), "--qos", "0", "--seed", "1", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent)


def _stop(simulator: subprocess.Popen[bytes]) -> None:
    """Ctrl-C (it disconnects cleanly), or kill it after 20 s."""
    simulator.send_signal(signal.SIGINT)
    try:
        simulator.wait(20)
    except subprocess.TimeoutExpired:
        simulator.kill()
        simulator.wait()


def _with_fleet(sites: int, dataloggers: int, idle_s: float, name: str, tmp: Path
                ) -> dict[str, Any]:
    """A fresh broker and simulator (a simulator that fell behind would catch up with a
    burst on the next run), then one cold start."""
    with Mosquitto() as broker:
        simulator = _simulator(broker.port, sites, dataloggers)
        try:
            _wait_for_simulator(simulator, broker, sites)
            return _cold_start(tmp, broker, sites, dataloggers, idle_s, simulator.pid, name)
        finally:
            _stop(simulator)


def _wait_for_simulator(simulator: subprocess.Popen[bytes], broker: Mosquitto,
                        sites: int) -> None:
    """Until the simulator connected every site and its retained statuses are out."""
    deadline = time.monotonic() + 60
    while broker.log().count(" as sim-") < sites and time.monotonic() < deadline:
        if simulator.poll() is not None:
            assert simulator.stderr is not None
            raise RuntimeError(f"simulator exited: {simulator.stderr.read()[-500:]!r}")
        time.sleep(0.2)
    time.sleep(1.0)


def _bare_fleet(sites: int, dataloggers: int, idle_s: float, *, shared: bool = True
                ) -> dict[str, dict[str, float]]:
    """CPU, RSS and threads of bare paho clients for the same fleet: one network thread per
    client (as sitelink has), then (``shared``) one network thread for all of them (P4)."""
    found: dict[str, dict[str, float]] = {}
    kinds = (("threads", []), ("one thread", ["--one-thread"])) if shared else (("threads", []),)
    with Mosquitto() as broker:
        simulator = _simulator(broker.port, sites, dataloggers)
        try:
            _wait_for_simulator(simulator, broker, sites)
            for name, extra in kinds:
                found[name] = _measure_fleet(broker.port, sites, idle_s, extra)
        finally:
            _stop(simulator)
    return found


def _before_and_after(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The bare fleet measured on both sides of sitelink's run: its CPU is their mean (the
    machine's load drifts over minutes, and the baseline is the small side of the ratio)."""
    return {**before, "cpu": (before["cpu"] + after["cpu"]) / 2,
            "cpu_before": before["cpu"], "cpu_after": after["cpu"],
            "msgs_before": before["msgs_per_s"], "msgs_after": after["msgs_per_s"]}


def _measure_fleet(port: int, sites: int, idle_s: float, extra: list[str]) -> dict[str, float]:
    """CPU, RSS, threads and messages a second of a bare fleet over ``idle_s``: one process
    for one network thread, else processes of ``paho_fleet.PER_PROCESS`` clients (paho's
    select() stops at ~340 clients a process), summed."""
    per = sites if "--one-thread" in extra else paho_fleet.PER_PROCESS
    fleets = [subprocess.Popen(
        [PY, "-m", "bench.paho_fleet", str(port), str(min(per, sites - first + 1)),
         "--first", str(first), *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        preexec_fn=die_with_parent) for first in range(1, sites + 1, per)]
    try:
        for fleet in fleets:
            assert fleet.stdout is not None
            said = fleet.stdout.readline().strip()
            if said != "ready":
                raise RuntimeError(f"bare paho fleet: {said or 'exited'}")
        time.sleep(3)
        received0 = sum(_fleet_count(f) for f in fleets)
        cpu0, t0 = sum(proc_cpu_s(f.pid) for f in fleets), time.monotonic()
        time.sleep(idle_s)
        elapsed = time.monotonic() - t0
        cpu = (sum(proc_cpu_s(f.pid) for f in fleets) - cpu0) / elapsed
        return {"cpu": cpu, "rss": sum(proc_rss_bytes(f.pid) for f in fleets),
                "threads": sum(proc_threads(f.pid) for f in fleets),
                "msgs_per_s": (sum(_fleet_count(f) for f in fleets) - received0) / elapsed}
    finally:
        for fleet in fleets:
            fleet.kill()
            fleet.wait()


def _fleet_count(fleet: subprocess.Popen[str]) -> int:
    """The messages a bare fleet received so far (it answers ``count`` on its stdin)."""
    assert fleet.stdin is not None and fleet.stdout is not None
    fleet.stdin.write("count\n")
    fleet.stdin.flush()
    return int(fleet.stdout.readline())


def body(section: Section, sites: int = 500, dataloggers: int = 20, idle_s: float = 30.0
         ) -> None:
    devices = sites * dataloggers
    with workdir("scale") as tmp_dir:
        tmp = Path(tmp_dir)
        base_rss, base_threads = _empty_server("empty", tmp)
        fleets = _bare_fleet(sites, dataloggers, idle_s / 2)
        current = _with_fleet(sites, dataloggers, idle_s, "scale", tmp)
        again = _bare_fleet(sites, dataloggers, idle_s / 2, shared=False)
        _rows(section, "sitelink", current, sites, devices, base_rss, base_threads,
              _before_and_after(fleets["threads"], again["threads"]))
        bare, shared = fleets["threads"], fleets["one thread"]
        section.add("bare paho fleet, one network thread for all (P4's design): CPU idle",
                    f"{shared['cpu'] * 100:.1f} % of a core ({shared['msgs_per_s']:.0f} msgs/s)",
                    f"one thread per client {bare['cpu'] * 100:.1f} % "
                    f"({bare['msgs_per_s']:.0f} msgs/s)", ratio(shared["cpu"], bare["cpu"]))
    section.note(f"CPU over {idle_s:g} s ({idle_s / 2:g} s for each bare fleet; the one thread "
                 "per client fleet before and after sitelink, the baseline their mean), "
                 f"{SETTLE_S:g} s "
                 "after every device was online (or once the cold start gave up at "
                 f"{COLD_START_LIMIT_S:.0f} s: then it is not idle but still catching up); "
                 "simulator and broker are separate processes (a fresh pair per run), nothing "
                 "is subtracted. 'connected' is what the API says (the read model, fed by the "
                 "bridge).")


def run(sites: int = 500, dataloggers: int = 20, idle_s: float = 30.0) -> Section:
    key = "scale" if (sites, dataloggers) == (500, 20) else f"scale_{sites}x{dataloggers}"
    return run_section(key, f"4. Scale: {sites} sites x {dataloggers} dataloggers",
                       lambda s: body(s, sites, dataloggers, idle_s))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--dataloggers", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    main_for(lambda: run(args.sites, args.dataloggers, args.idle))
