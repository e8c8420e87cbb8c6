"""Site workers: this instance's sites run in ``SITELINK_WORKERS`` child processes.

A worker (``workers.child``) hosts what one process hosted before: a supervisor, its site
actors with their devices, their paho clients, and a clock of its own; it never touches the
database. The main process (``workers.pool``) assigns every site to a worker by a stable
rule (``workers.assign``), tells each worker its share of the desired state and the
commands for its sites, feeds the event batches that come back into the bridge, and starts a
worker again when it dies. Main and worker talk over one framed channel
(``sitelink.channel``, the storage writer's framing; the messages: ``workers.frames``).
"""
