"""What the main process says about each of its site workers (``GET /api/v1/cluster``'s
``workers`` list, ``sitelink cluster``)."""

from __future__ import annotations

from typing import Literal

import msgspec

WorkerState = Literal["running", "starting", "restarting", "stopped"]


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    worker: int
    pid: int | None
    sites: int
    state: WorkerState
    restarts: int
