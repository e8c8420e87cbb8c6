"""Helpers of the operations tests: the repo's path, a child process to wait on, /proc."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def clean_env(**overrides: str) -> dict[str, str]:
    """The test's environment without sitelink's settings that a developer may have
    exported (API.md's table), so that a child process sees the defaults, plus ``overrides``."""
    env = {name: value for name, value in os.environ.items()
           if not _is_setting(name)}
    env.update(overrides)
    return env


def _is_setting(name: str) -> bool:
    if name.startswith("SITELINK_QUICKSTART_"):
        return False  # the quick-start test's own switches, not settings
    if name == "SITELINK_WORKERS":
        return False  # the test run's worker count (CI runs the suite with 1 and with 2)
    return name == "DATABASE_URL" or name.startswith(("SITELINK_", "MQTT_"))


class Running:
    """One child process in a session of its own (so that a signal can go to it alone, or
    to its whole group as Ctrl-C in a terminal does)."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                 log_dir: Path) -> None:
        self.argv = list(argv)
        self.started_at = time.monotonic()
        self.stderr_path = log_dir / f"stderr-{os.getpid()}-{id(self)}.log"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            self.argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, errors="replace",
            start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="stdout-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first stdout line that matches ``pattern`` (searched), waiting up to the
        deadline; fails the test with the output so far if none comes."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None
                                      and not self._reader.is_alive()):
                    break
                self._changed.wait(min(remaining, 0.5))
        pytest.fail(f"no line matching {pattern!r} within {timeout_s} s\n{self.report()}")

    def poll_until(self, check: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Call ``check`` every 0.25 s until it is true; returns the seconds since start.
        Fails at the deadline, or at once if the process has ended."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return time.monotonic() - self.started_at
            if self.process.poll() is not None:
                pytest.fail(f"{what}: the process ended with {self.process.returncode}\n"
                            f"{self.report()}")
            time.sleep(0.25)  # polling an HTTP server from outside: no event to wait on
        pytest.fail(f"{what}: not within {timeout_s} s\n{self.report()}")

    def interrupt(self, *, group: bool) -> None:
        """SIGINT to the process alone, or to its whole group as Ctrl-C in a terminal."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.pid, signal.SIGINT)
            else:
                self.process.send_signal(signal.SIGINT)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {timeout_s} s after the signal\n{self.report()}")

    def report(self, tail_lines: int = 40) -> str:
        with self._changed:
            out = "\n".join(self.lines[-tail_lines:])
        self._stderr.flush()
        err = self.stderr_path.read_text(errors="replace").splitlines()[-tail_lines:]
        return f"--- {' '.join(self.argv)}: stdout\n{out}\n--- stderr\n" + "\n".join(err)

    def close(self) -> None:
        """Kill whatever of the group is left (a test that failed midway, or a child that
        outlived its parent) and reap the process."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def http_status(url: str, *, token: str | None = None) -> int | None:
    """The HTTP status of a GET, or None if nothing answers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code
    except httpx.TransportError:
        return None


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
