"""Our threads' OS names: what ``top -H`` and the benchmarks' CPU by thread read."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from sitelink.thread_names import name_this_thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OS thread names: Linux")
def test_a_thread_gets_its_os_name_cut_to_fifteen_bytes() -> None:
    seen: list[str] = []

    def run() -> None:
        name_this_thread("outbox-of-worker-7")
        comm = Path(f"/proc/self/task/{threading.get_native_id()}/comm")
        seen.append(comm.read_text().strip())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == ["outbox-of-worke"]
