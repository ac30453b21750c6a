"""A local webhook receiver for notification tests: what Apprise's ``json://`` plugin POSTs, kept in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Receiver:
    """An HTTP server on 127.0.0.1 (a free port) that records each JSON body it is sent.

    ``hang`` makes it hold every request without answering until the test ends (a service that
    accepted the connection and never replied); ``status`` is the HTTP code it answers with.
    """

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.hang = False
        self.status = 200
        self.got = threading.Condition()
        self.release = threading.Event()
        self.arrived = threading.Event()  # a request came in (set before a hanging receiver holds it)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.set()
                if receiver.hang:
                    receiver.release.wait(10)
                with receiver.got:
                    receiver.messages.append(json.loads(body))
                    receiver.paths.append(self.path)
                    receiver.got.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: no stderr noise in tests
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/homeops/Tok3nSecretX9") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.got:
            self.got.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@pytest.fixture(scope="session")
def apprise_loaded() -> None:
    """Apprise loads its plugins on first use (a second or more on a loaded machine): done before a test
    whose timings are sub-second, so they time the send, not the import."""
    import apprise

    apprise.Apprise().add("json://127.0.0.1:9/warm-up")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.release.set()
        r.server.shutdown()
        r.server.server_close()
