"""HTTP: the Litestar app (REST, Server-Sent Events, dashboard) and the uvicorn server."""
