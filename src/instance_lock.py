"""One sitelink instance per SQLite file: an OS file lock beside the database.

Two processes running sites on one SQLite file would connect every site twice under the same
client ids, each knocking the other's connection off its broker. ``hold(settings)`` takes an
exclusive ``flock`` on ``<database>.lock`` (released by the kernel when the process ends,
even by ``kill -9``, so a stale file never blocks a restart) and writes who holds it: pid,
host and listening address. A second instance gets ``InstanceLocked`` naming the file and
that holder. PostgreSQL needs no lock here (the database serves many clients; which
instance runs which site is its own concern).

The CLI's short commands (status, sites, token, migrate) take no lock: they are not
instances. Within one process the lock is shared (counted), so a server that restarts in
place, or the runtime started by ``serve`` after ``serve`` took the lock, holds it once.

Runs on whatever thread starts the process or the runtime; the registry is guarded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from pathlib import Path

from sitelink.errors import SitelinkError
from sitelink.settings import Settings


class InstanceLocked(SitelinkError):
    """Another process runs sites on this SQLite file."""


class InstanceLock:
    """A held lock; ``release`` once per ``hold``."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.holders = 1

    def release(self) -> None:
        with _registry_lock:
            self.holders -= 1
            if self.holders > 0:
                return
            _held.pop(self.path, None)
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor drops the flock


_registry_lock = threading.Lock()
_held: dict[Path, InstanceLock] = {}


def lock_path(settings: Settings) -> Path | None:
    """``<database file>.lock`` for SQLite; None for PostgreSQL or an in-memory database."""
    if settings.engine != "sqlite":
        return None
    raw = settings.database_url.removeprefix("sqlite:///")
    if not raw or raw == ":memory:":
        return None
    return Path(raw).expanduser().resolve().with_name(Path(raw).name + ".lock")


def hold(settings: Settings, listening: str = "") -> InstanceLock | None:
    """Take (or share, within this process) the instance lock of the settings' SQLite file.

    ``listening`` (e.g. ``127.0.0.1:8000``) is written into the file for the next one to
    read. Returns None when there is nothing to lock; raises ``InstanceLocked``."""
    path = lock_path(settings)
    if path is None:
        return None
    with _registry_lock:
        held = _held.get(path)
        if held is not None:
            held.holders += 1
            return held
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise InstanceLocked(
                f"another sitelink instance ({holder}) runs sites on "
                f"{path.with_suffix('')}: lock {path} is held; stop it first or use "
                f"another DATABASE_URL") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid={os.getpid()} host={socket.gethostname()} "
                       f"listening={listening or '-'}\n").encode(), 0)
        lock = _held[path] = InstanceLock(path, fd)
        return lock


def _read(fd: int) -> str:
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"
