"""Several instances on one PostgreSQL (API.md, "Cluster and workers").

Ownership (which instance runs which site):

- ``schema``: the lease and instance tables (migration 0008).
- ``balance``: how many sites this instance should claim or give up (pure).
- ``tenure``: how long this instance may still run its sites by its own clock (pure).
- ``lease_store``: the SQL of claims, renewals, releases and heartbeats.
- ``keeper``: the ``LeaseKeeper`` tasks that tie them together and tell the runtime;
  ``wakeup``: LISTEN/NOTIFY so a handover does not wait for a tick; ``link``: the keeper
  plugged into a runtime.
- ``view`` / ``cli_table``: what ``GET /api/v1/cluster``, health and ``sitelink cluster`` show.

The event log, commands and readings across instances: ``eventlog``, ``replication``,
``commands``, ``logged``, ``readings``.
"""
