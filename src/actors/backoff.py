"""Retry delays and the instance-wide connect-rate cap.

``retry_delay`` is pure: the random part comes in as ``u`` in [0, 1), drawn by the caller.
``ConnectRateLimiter`` is the one piece of shared state between SiteActors; it only
answers "how long until you may connect", it never blocks.
"""

from __future__ import annotations

import threading

import msgspec


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    base_s: float = 5.0
    max_s: float = 300.0
    jitter: float = 0.2
    reset_s: float = 20.0
    connect_timeout_s: float = 10.0


def retry_delay(n: int, policy: RetryPolicy, u: float) -> float:
    """Delay after the n-th consecutive failure (n from 0): ``min(base * 2**n, max)``,
    moved by up to ±``jitter`` (relative) as ``u`` goes from 0 to 1.

    Never overflows: the exponent is capped before it is computed.
    """
    capped = policy.max_s
    # 2**n beyond max/base is all the same once capped; 2.0**1024 raises OverflowError.
    if n < 1024 and policy.base_s * 2.0**n < policy.max_s:
        capped = policy.base_s * 2.0**n
    factor = 1.0 + policy.jitter * (2.0 * u - 1.0)
    return max(0.0, capped * factor)


class ConnectRateLimiter:
    """At most ``rate`` connect attempts per second for the whole instance.

    ``reserve(now)`` books the next free slot and returns how long the caller must wait
    for it (0 when it may connect at once). Slots are spaced ``1/rate`` apart, so after a
    broker outage that hit every site the reconnects come as a steady stream, not a storm.
    Thread-safe; any SiteActor thread may call it.
    """

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next_free = float("-inf")
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        with self._lock:
            slot = max(now, self._next_free)
            self._next_free = slot + self._interval
            return slot - now
