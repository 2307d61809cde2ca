"""A keep-alive HTTP/1.1 client that does no more than send a request and read its answer.

Scenario 1 times the server: the floor it is compared with has no HTTP client at all, and httpx's own
work on a 21 KB request and a 110 KB answer (about 1 ms a request on this machine, more on another event
loop) would be billed to govgraph. This client writes the request's bytes and reads the answer by its
``Content-Length``; what it costs is a few system calls. Scenario 1 reports the httpx figure beside it.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

HEADER_LIMIT = 64 * 1024


class RawHttpError(Exception):
    pass


class RawHttpClient:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttpClient:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port, limit=HEADER_LIMIT)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    def request(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        """The bytes of a POST, built once and sent as often as wanted."""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self._host}:{self._port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """The status and body of the answer to ``request``."""
        assert self._reader is not None and self._writer is not None, "use the client as a context manager"
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length: int | None = None
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise RawHttpError(
                    f"the answer came as {value.strip()}; this client reads Content-Length only"
                )
        if length is None:
            raise RawHttpError("the answer has no Content-Length")
        return status, await self._reader.readexactly(length)
