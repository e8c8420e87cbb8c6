"""Storage: piccolo tables, migrations, queries and the batching writer (SQLite or PostgreSQL).

Everything in this package runs on the asyncio event loop; actors never touch it.

::

    database       open_database(settings) -> Database; unique violations -> Conflict
    tables         the schema; migrations   one history for both engines
    secrets        broker passwords encrypted at rest
    sites          sites and the supervisor's desired state; subscriptions  their topics
    tokens         API tokens (hashed)
    devices        devices for the API and for start-up; sensors  sensors and readings
    availability   uptime from intervals; the reset of availability at start-up
    history        connection events and 24 h stats; commands  published commands
    audit          who did what
    writer         StorageWriter: events -> coalesced batches (batch, apply)
"""
