"""The HTTP API against its contract (API.md), through a real server."""
