"""Cluster tests that need PostgreSQL use the storage suite's database fixture."""

from storage.conftest import pg_database_url

__all__ = ["pg_database_url"]
