"""Real receivers for notifications: an HTTP server for webhooks and an SMTP server.

Both record what arrives under a condition, so tests wait for it with a deadline and
never sleep. The webhook receiver answers with the status codes it is given, in order
(then 200), to make a channel fail and recover.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from sitelink.embedded_broker import free_port


class WebhookReceiver:
    def __init__(self, secret: str | None = None, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.changed:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    if status < 300:
                        receiver.requests.append((dict(self.headers.items()), body))
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict[str, Any]]:
        with self.changed:
            return [json.loads(body) for _, body in self.requests]

    def wait(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` notifications arrived (each signature checked)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.requests) >= count, timeout_s)
            got = list(self.requests)
        assert len(got) >= count, f"{len(got)} of {count} webhook calls arrived"
        for headers, body in got:
            if self.secret is not None:
                expected = "sha256=" + hmac.new(self.secret.encode(), body,
                                                hashlib.sha256).hexdigest()
                assert headers.get("X-Sitelink-Signature") == expected
        return [json.loads(body) for _, body in got]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.changed:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            self.changed.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, list[str], bytes]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.messages) >= count, timeout_s)
            assert len(self.messages) >= count, f"{len(self.messages)} of {count} mails"
            return list(self.messages)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    """A real SMTP server (aiosmtpd) on a free port: its Controller needs a real one."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()
