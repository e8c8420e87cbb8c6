"""Which worker hosts a site: a pure function of the site id and the worker count.

The site id itself is the hash: ids are assigned in sequence by the database, so ``id mod
N`` spreads sites evenly, never moves a site while the count stays the same (a restart of
the instance or of a worker keeps it where it was), and when the count changes between two
runs every site simply starts on its new worker — nothing of the previous run is running
then, so no site is ever connected by two workers at once.
"""

from __future__ import annotations


def worker_for(site_id: int, workers: int) -> int:
    return site_id % workers


def hosting_worker(site_id: int, workers: int) -> int | None:
    """The worker of ``site_id`` on an instance with ``workers`` of them (a status object's
    ``owner.worker``); None when there are none: the sites run in the main process."""
    return worker_for(site_id, workers) if workers > 0 else None
