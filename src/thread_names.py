"""OS names for sitelink's threads (Linux), so that ``top -H``, ``ps -L``, py-spy and the
benchmarks' CPU by thread (``bench.common.cpu_by_thread``) tell a site's paho thread from its
actor's. Python names its threads for itself only; the OS sees "python" for all of them."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

_PR_SET_NAME = 15
_NAME_MAX = 15  # bytes, without the terminating NUL


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_SET = _prctl()


def name_this_thread(name: str) -> None:
    """Give the calling thread this OS name (cut to 15 bytes); nothing where there is none."""
    if _SET is not None:
        _SET(_PR_SET_NAME, name.encode()[:_NAME_MAX], 0, 0, 0)
