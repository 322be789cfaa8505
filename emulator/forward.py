"""`--forward-url`: each line's body is sent to a real-time server, OpenAI-compatible or (for
`/v1/messages` lines) Anthropic-compatible, with the auth headers each expects."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from emulator.errors import error_body
from emulator.messages import ANTHROPIC_VERSION, is_anthropic_path


class Forwarder:
    def __init__(
        self, base_url: str, concurrency: int, timeout: float, api_key: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        # One limit for the whole server, however many batches run at once.
        self._slots = asyncio.Semaphore(concurrency)

    def url_for(self, path: str) -> str:
        if self.base_url.endswith("/v1") and path.startswith("/v1/"):
            return self.base_url + path.removeprefix("/v1")
        return self.base_url + path

    def headers_for(self, path: str) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if is_anthropic_path(path):
            headers["anthropic-version"] = ANTHROPIC_VERSION
            if self.api_key:
                headers["x-api-key"] = self.api_key
        elif self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    async def call(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """(status code, JSON body) of the upstream answer; network failures answer 502."""
        async with self._slots:
            try:
                response = await self._client.post(
                    self.url_for(path),
                    content=orjson.dumps(body),
                    headers=self.headers_for(path),
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
