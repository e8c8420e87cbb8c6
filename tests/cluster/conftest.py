"""Cluster tests that need PostgreSQL use the storage suite's database fixtures."""

from storage.conftest import pg, pg_database_url

__all__ = ["pg", "pg_database_url"]
