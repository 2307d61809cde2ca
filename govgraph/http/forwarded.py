"""``ClientAddressMiddleware``: which address a request comes from, believing only trusted proxies.

The peer address is the client's, unless the peer is a reverse proxy listed
in ``GOVGRAPH_TRUSTED_PROXIES``. Then ``X-Forwarded-For`` is read from the
right: the first address that is not itself a trusted proxy is the client.
Anything a client writes to the left of that is ignored, so a client cannot
choose its own rate-limit bucket or the address its audit records name.
Nothing is trusted by default, loopback included.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks; a ``ValueError`` names the entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network such as 10.0.0.0/8") from None
    return tuple(networks)


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp, trusted: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted = parse_networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            client = scope.get("client")
            if client and self._is_trusted(client[0]):
                forwarded = Headers(scope=scope).getlist("x-forwarded-for")
                address = self._client_address(forwarded)
                if address is not None:
                    scope = {**scope, "client": (address, 0)}
        await self.app(scope, receive, send)

    def _client_address(self, headers: list[str]) -> str | None:
        hops = [hop.strip() for header in headers for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                return None  # a malformed hop: believe nothing further left
            if not any(address in network for network in self.trusted):
                return str(address)
        return None

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)
