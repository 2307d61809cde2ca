"""``Upstream``: the HTTP side of a department that publishes a service (a JSON API or a GraphQL endpoint).

One pooled httpx client per department, the auth header built from a
secret the caller read from the environment, a slot per concurrent call,
and one ``timeout`` covering a call's every attempt. A connection failure or
a 502, 503 or 504 is retried up to ``retries`` times. Anything else that goes
wrong (a status other than 2xx, a body over ``max_response_bytes``, JSON
that does not parse) raises ``SourceUnavailable`` with a reason in govgraph's
own words; nothing of the upstream body reaches a caller or the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import httpx
import orjson

from govgraph.catalog.specs import HttpAuthSpec
from govgraph.errors import SourceUnavailable

logger = logging.getLogger("govgraph.sources")

RETRIED_STATUSES = frozenset({502, 503, 504})


class ServiceSpec(Protocol):
    url: str
    timeout: float
    max_concurrency: int
    retries: int
    max_response_bytes: int
    auth: HttpAuthSpec | None


class Upstream:
    def __init__(
        self,
        department: str,
        spec: ServiceSpec,
        *,
        secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.department = department
        self.timeout = spec.timeout
        self._spec = spec
        self._headers = {"Accept": "application/json"}
        if spec.auth is not None:
            if not secret:
                raise ValueError(
                    f"department {department}: no secret for its service ({spec.auth.secret_env})"
                )
            self._headers[spec.auth.header] = f"{spec.auth.scheme} {secret}" if spec.auth.scheme else secret
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(spec.max_concurrency)
        self.requests = 0
        """Requests sent since start-up, retries included."""

    async def open(self) -> None:
        self._client = httpx.AsyncClient(
            base_url=self._spec.url,
            headers=self._headers,
            timeout=httpx.Timeout(self._spec.timeout),
            limits=httpx.Limits(
                max_connections=self._spec.max_concurrency,
                max_keepalive_connections=self._spec.max_concurrency,
            ),
            follow_redirects=False,
            trust_env=False,
            transport=self._transport,
        )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def json(self, method: str, path: str, **options: Any) -> Any:
        """One call's parsed JSON answer. ``options``: httpx's ``json``-free ``content``, ``params``, ``headers``.

        Waiting for a slot is govgraph's own queue; the timeout starts once the slot is held."""
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    body = await self._send(method, path, options)
            except TimeoutError:
                raise self.failure(f"timed out after {self.timeout:g}s") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise self.failure("answering malformed JSON") from None

    def failure(self, reason: str, detail: str | None = None) -> SourceUnavailable:
        """``reason`` reaches callers (``department X is <reason>``), ``detail`` only the log; neither holds
        anything of the upstream body."""
        logger.warning("department %s is %s%s", self.department, reason, f": {detail}" if detail else "")
        return SourceUnavailable(self.department, reason)

    async def _send(self, method: str, path: str, options: dict[str, Any]) -> bytes:
        client = self._client
        if client is None:
            raise self.failure("not open")
        attempts = self._spec.retries + 1
        for attempt in range(1, attempts + 1):
            self.requests += 1
            try:
                async with client.stream(method, path, **options) as response:
                    if response.status_code in RETRIED_STATUSES and attempt < attempts:
                        continue
                    if not 200 <= response.status_code < 300:
                        raise self.failure(f"answering HTTP {response.status_code}")
                    return await self._body(response)
            except httpx.TransportError as error:
                if attempt < attempts:
                    continue
                raise self.failure(f"unreachable ({type(error).__name__})") from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _body(self, response: httpx.Response) -> bytes:
        limit = self._spec.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self.failure(f"answering more than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise self.failure(f"answering more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
