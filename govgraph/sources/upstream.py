"""``Upstream``: the HTTP side of a department that publishes a service (a JSON API or a GraphQL endpoint).

One pooled httpx client per department, the auth header built from a
secret the caller read from the environment, a slot per concurrent call,
and one ``timeout`` covering a call's every attempt. A connection failure or
a 502, 503 or 504 is retried up to ``retries`` times. Anything else that goes
wrong (a status other than 2xx, a body over ``max_response_bytes``, JSON
that does not parse) raises ``SourceUnavailable`` with a reason in govgraph's
own words; nothing of the upstream body reaches a caller or the log.

What the department says of freshness is heeded: ``Cache-Control`` on an
answer (``Answer.max_age``) tells the row cache how long to keep it, and an
answer with an ``ETag`` is asked again with ``If-None-Match``, so an
unchanged one comes back as a 304 without its body.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from govgraph.catalog.specs import HttpAuthSpec
from govgraph.diagnostics import describe
from govgraph.errors import SourceUnavailable

logger = logging.getLogger("govgraph.sources")

RETRIED_STATUSES = frozenset({502, 503, 504})
VALIDATED_BYTES = 16 * 1024 * 1024
"""Answers kept with their ETag, per department, for revalidation."""


@dataclass(frozen=True, slots=True)
class Answer:
    json: Any
    max_age: int | None
    """Seconds the department says the answer stays fresh for a shared cache (``s-maxage``, else
    ``max-age``); 0 when it must not be kept (``no-store``, ``no-cache``, ``private``); ``None`` if it
    says nothing, and the catalog's frequency decides."""


@dataclass(frozen=True, slots=True)
class _Validated:
    etag: str
    body: bytes
    max_age: int | None


def shared_max_age(header: str | None) -> int | None:
    """RFC 9111 as a shared cache reads ``Cache-Control``."""
    if not header:
        return None
    directives: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if {"no-store", "no-cache", "private"} & directives.keys():
        return 0
    for name in ("s-maxage", "max-age"):
        value = directives.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def _request_key(method: str, path: str, options: dict[str, Any]) -> bytes:
    return orjson.dumps(
        [method, path, options.get("params"), (options.get("content") or b"").decode("utf-8", "replace")]
    )


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
        self.revalidated = 0
        """Answers the department confirmed unchanged (304 to an ``If-None-Match``)."""
        self._validators: OrderedDict[bytes, _Validated] = OrderedDict()
        self._validated_bytes = 0

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

    async def json(self, method: str, path: str, **options: Any) -> Answer:
        """One call's parsed JSON answer and how long it may be kept. ``options``: httpx's ``content``,
        ``params`` and ``headers``.

        Waiting for a slot is govgraph's own queue; the timeout starts once the slot is held."""
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    body, max_age = await self._send(method, path, options)
            except TimeoutError:
                raise self.failure(f"timed out after {self.timeout:g}s") from None
        try:
            return Answer(orjson.loads(body), max_age)
        except orjson.JSONDecodeError:
            raise self.failure("answering malformed JSON") from None

    def failure(self, reason: str, detail: str | None = None) -> SourceUnavailable:
        """``reason`` reaches callers (``department X is <reason>``), ``detail`` only the log; neither holds
        anything of the upstream body."""
        logger.warning("department %s is %s%s", self.department, reason, f": {detail}" if detail else "")
        return SourceUnavailable(self.department, reason)

    async def _send(self, method: str, path: str, options: dict[str, Any]) -> tuple[bytes, int | None]:
        client = self._client
        if client is None:
            raise self.failure("not open")
        asked = _request_key(method, path, options)
        validated = self._validators.get(asked)
        if validated is not None:
            options = {**options, "headers": {**options.get("headers", {}), "If-None-Match": validated.etag}}
        attempts = self._spec.retries + 1
        for attempt in range(1, attempts + 1):
            self.requests += 1
            try:
                async with client.stream(method, path, **options) as response:
                    if response.status_code in RETRIED_STATUSES and attempt < attempts:
                        continue
                    max_age = shared_max_age(response.headers.get("cache-control"))
                    if response.status_code == 304 and validated is not None:
                        self.revalidated += 1
                        self._validators.move_to_end(asked)
                        return validated.body, max_age if max_age is not None else validated.max_age
                    if not 200 <= response.status_code < 300:
                        raise self.failure(f"answering HTTP {response.status_code}")
                    body = await self._body(response)
                    control = response.headers.get("cache-control", "").lower()
                    if "no-store" not in control:
                        self._remember(asked, response.headers.get("etag"), body, max_age)
                    return body, max_age
            except httpx.TransportError as error:
                if attempt < attempts:
                    continue
                raise self.failure(f"unreachable ({type(error).__name__})", describe(error)) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _remember(self, asked: bytes, etag: str | None, body: bytes, max_age: int | None) -> None:
        """Keep an answer with its ETag, to ask next time only whether it changed (bounded by bytes)."""
        self._validators.pop(asked, None)
        if not etag or len(body) > VALIDATED_BYTES // 4:
            return
        self._validators[asked] = _Validated(etag, body, max_age)
        self._validated_bytes = sum(len(item.body) for item in self._validators.values())
        while self._validated_bytes > VALIDATED_BYTES:
            _, dropped = self._validators.popitem(last=False)
            self._validated_bytes -= len(dropped.body)

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
