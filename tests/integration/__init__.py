"""End-to-end tests: the real server, a real Mosquitto, SQLite and PostgreSQL, real clients."""
