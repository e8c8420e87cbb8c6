"""Failed authentication, counted per client address, in memory and bounded.

A client address that has failed ``limit`` times (a wrong token at login, or a bearer token
that is not valid) within ``window_s`` is refused every authentication attempt — right or
wrong — until its oldest counted failure is ``window_s`` old: a guesser learns nothing more
by going on. Requests that present no credential at all are not counted (a dashboard that
is not logged in yet asks ``/auth/me`` and gets 401; that is no guess).

Bounded: at most ``limit`` failure times per address and at most ``max_addresses``
addresses; when full, the address that failed longest ago is forgotten first (an attacker
spraying from many addresses can push out others' counts, never grow the memory).

The clock is a function of monotonic seconds, injected so tests move it instead of
sleeping. Event loop only (no locking).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(self, *, limit: int, window_s: float, now: Callable[[], float],
                 max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._now = now
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after_s(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or None when it may try now."""
        times = self._failures.get(address)
        if times is None:
            return None
        now = self._now()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        if len(times) < self.limit:
            return None
        return max(1, math.ceil(times[0] + self.window_s - now))

    def failed(self, address: str) -> None:
        """Count one failure of ``address``."""
        times = self._failures.get(address)
        if times is None:
            while len(self._failures) >= self.max_addresses:
                self._failures.popitem(last=False)
            times = self._failures[address] = deque(maxlen=self.limit)
        else:
            self._failures.move_to_end(address)
        times.append(self._now())

    def __len__(self) -> int:
        return len(self._failures)
