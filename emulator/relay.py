"""An httpx2 transport into the in-process emulator.

The anthropic SDK is built on httpx2 and takes only an `httpx2.Client`, while Starlette's
TestClient is an `httpx.Client`: this transport relays each request through the TestClient,
so the SDK reaches the app (and its event loop) as the openai SDK does.
"""

from __future__ import annotations

import httpx
import httpx2

# The TestClient hands over decoded bodies; these headers would describe the encoded ones.
STALE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class InProcessTransport(httpx2.BaseTransport):
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.client.request(
            request.method,
            str(request.url),
            headers=request.headers.multi_items(),
            content=request.read(),
        )
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in STALE_HEADERS
        ]
        return httpx2.Response(response.status_code, headers=headers, content=response.content)


def in_process_client(client: httpx.Client) -> httpx2.Client:
    return httpx2.Client(transport=InProcessTransport(client))
