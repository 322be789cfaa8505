"""A local HTTP server that records webhook POSTs (body and headers), in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    bodies: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_server(fail_first: int = 0, status: int = 200) -> Iterator[tuple[str, Received]]:
    """Yields (url, received); the first ``fail_first`` requests get a 503."""
    received = Received(fail_first=fail_first, status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with received.lock:
                failing = received.fail_first > 0
                if failing:
                    received.fail_first -= 1
                else:
                    received.bodies.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(503 if failing else received.status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
