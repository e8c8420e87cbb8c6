"""Storage: piccolo tables, migrations, queries and the batching writer (SQLite or PostgreSQL)."""
