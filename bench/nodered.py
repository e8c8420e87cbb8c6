"""Node-RED 4 as a baseline: installed from npm at bench time into bench/.node-red (not
committed), run headless from a settings file and a flow file in a temporary user directory.

The flow: ``mqtt in`` (output: parsed JSON object) → a function node that counts and notes
the first and last arrival (Date.now()); ``GET /count`` answers those figures.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import BENCH_DIR, die_with_parent
from sitelink.embedded_broker import free_port

INSTALL_DIR = BENCH_DIR / ".node-red"
RED_JS = INSTALL_DIR / "node_modules" / "node-red" / "red.js"
PACKAGE = "node-red@4"

_COUNT = """
const now = Date.now();
const c = (global.get('count') || 0) + 1;
if (c === 1) { global.set('first', now); }
if (msg.payload !== null && typeof msg.payload === 'object') {
    global.set('decoded', (global.get('decoded') || 0) + 1);
}
global.set('count', c);
global.set('last', now);
return null;
"""

_REPORT = """
msg.payload = {count: global.get('count') || 0, decoded: global.get('decoded') || 0,
               first: global.get('first') || 0, last: global.get('last') || 0,
               now: Date.now()};
return msg;
"""

_RESET = """
global.set('count', 0); global.set('decoded', 0); global.set('first', 0); global.set('last', 0);
msg.payload = {ok: true};
return msg;
"""


def install(timeout_s: float = 300.0) -> str:
    """Install Node-RED 4 unless present; returns its version. Raises if npm fails."""
    if not RED_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed")
        INSTALL_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(INSTALL_DIR), PACKAGE, "--no-audit", "--no-fund",
             "--loglevel=error"],
            check=True, timeout=timeout_s, capture_output=True,
        )
    package = json.loads((RED_JS.parent / "package.json").read_text())
    return str(package["version"])


def _connection(n: int, broker_port: int, topic: str) -> list[dict[str, Any]]:
    """Broker connection ``n`` (a client of its own) and its ``mqtt in`` node."""
    suffix = f"-{n}" if n else ""
    return [
        {"id": f"broker{suffix}", "type": "mqtt-broker", "name": f"bench{suffix}",
         "broker": "127.0.0.1", "port": str(broker_port), "clientid": f"bench-node-red{suffix}",
         "autoConnect": True, "usetls": False, "protocolVersion": "4", "keepalive": "60",
         "cleansession": True, "autoUnsubscribe": True, "birthTopic": "", "closeTopic": "",
         "willTopic": ""},
        {"id": f"in{suffix}", "type": "mqtt in", "z": "tab", "name": f"heartbeats{suffix}",
         "topic": topic, "qos": "0", "datatype": "json", "broker": f"broker{suffix}",
         "nl": False, "rap": True, "rh": 0, "inputs": 0, "x": 100, "y": 100 + 20 * n,
         "wires": [["count"]]},
    ]


def flows(broker_port: int, topics: list[str]) -> list[dict[str, Any]]:
    """One broker connection and ``mqtt in`` per topic, all into one counting node."""
    return [
        {"id": "tab", "type": "tab", "label": "bench"},
        *[node for n, topic in enumerate(topics) for node in _connection(n, broker_port, topic)],
        {"id": "count", "type": "function", "z": "tab", "name": "count", "func": _COUNT,
         "outputs": 0, "x": 300, "y": 100, "wires": []},
        {"id": "get", "type": "http in", "z": "tab", "url": "/count", "method": "get",
         "x": 100, "y": 200, "wires": [["report"]]},
        {"id": "report", "type": "function", "z": "tab", "func": _REPORT, "outputs": 1,
         "x": 300, "y": 200, "wires": [["respond"]]},
        {"id": "reset", "type": "http in", "z": "tab", "url": "/reset", "method": "post",
         "x": 100, "y": 300, "wires": [["do-reset"]]},
        {"id": "do-reset", "type": "function", "z": "tab", "func": _RESET, "outputs": 1,
         "x": 300, "y": 300, "wires": [["respond"]]},
        {"id": "respond", "type": "http response", "z": "tab", "statusCode": "",
         "headers": {}, "x": 500, "y": 200, "wires": []},
    ]


SETTINGS = """module.exports = {
    uiHost: "127.0.0.1",
    uiPort: %(port)d,
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: "/admin",
    httpNodeRoot: "/",
    logging: { console: { level: "info", metrics: false, audit: false } },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    telemetry: { enabled: false },
    editorTheme: { tours: false },
    functionTimeout: 0,
};
"""


class NodeRed:
    """A running Node-RED with the counting flow. ``start()`` returns once its MQTT
    connection is up; ``count()`` reads the figures."""

    def __init__(self, userdir: Path, broker_port: int, topic: str | list[str]) -> None:
        self.topics = [topic] if isinstance(topic, str) else topic
        self.userdir = userdir
        self.port = free_port()
        self.userdir.mkdir(parents=True, exist_ok=True)
        (userdir / "settings.js").write_text(SETTINGS % {"port": self.port})
        (userdir / "flows.json").write_text(json.dumps(flows(broker_port, self.topics)))
        self.process: subprocess.Popen[str] | None = None
        self.connected = threading.Event()  # every broker connection is up
        self._connections = 0
        self.log: list[str] = []
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 60.0) -> None:
        node = shutil.which("node") or "node"
        self.process = subprocess.Popen(
            [node, str(RED_JS), "--userDir", str(self.userdir), "--settings",
             str(self.userdir / "settings.js"), "flows.json"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.userdir,
            preexec_fn=die_with_parent,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.connected.wait(timeout_s):
            self.stop()
            raise RuntimeError("Node-RED did not connect to the broker: "
                               + " | ".join(self.log[-10:]))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                self.count()
                return
            time.sleep(0.1)
        raise RuntimeError("Node-RED's /count did not answer")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line.rstrip())
            if "Connected to broker" in line:
                self._connections += 1
                if self._connections >= len(self.topics):
                    self.connected.set()

    def count(self) -> dict[str, Any]:
        response = self.http.get("/count")
        response.raise_for_status()
        return dict(response.json())

    def reset(self) -> None:
        self.http.post("/reset").raise_for_status()

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
