"""`--forward-url`: each line's body is sent to a real-time OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from emulator.errors import error_body


class Forwarder:
    def __init__(
        self, base_url: str, concurrency: int, timeout: float, api_key: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        # One limit for the whole server, however many batches run at once.
        self._slots = asyncio.Semaphore(concurrency)

    def url_for(self, path: str) -> str:
        if self.base_url.endswith("/v1") and path.startswith("/v1/"):
            return self.base_url + path.removeprefix("/v1")
        return self.base_url + path

    async def call(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """(status code, JSON body) of the upstream answer; network failures answer 502."""
        async with self._slots:
            try:
                response = await self._client.post(
                    self.url_for(path),
                    content=orjson.dumps(body),
                    headers={"content-type": "application/json"},
                )
            except httpx.HTTPError as exc:
                return 502, error_body(
                    f"The upstream server could not be reached: {exc!r}",
                    "server_error",
                    None,
                    "upstream_error",
                )
        try:
            return response.status_code, orjson.loads(response.content)
        except orjson.JSONDecodeError:
            status = response.status_code if response.status_code >= 400 else 502
            return status, error_body(
                f"The upstream server answered {response.status_code} with a body that is not "
                f"JSON: {response.text[:200]!r}",
                "server_error",
                None,
                "upstream_error",
            )

    async def aclose(self) -> None:
        await self._client.aclose()
