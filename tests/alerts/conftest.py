"""Alert tests that need a database use the storage suite's fixtures (SQLite and PostgreSQL)."""

from storage.conftest import db, db_settings, pg_database_url

__all__ = ["db", "db_settings", "pg_database_url"]
