"""Who the client is behind trusted proxies.

``X-Forwarded-For`` and ``Forwarded`` are believed only when the peer that
sent them is a configured trusted proxy (default: none). The client is then
the right-most address that is not itself a trusted proxy, so a client
cannot dodge the per-IP buckets by sending a forged header of its own: a
trusted proxy appends the address it saw to whatever the client sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        known = self._cache.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                known = False
            else:
                known = any(ip in network for network in self._networks)
            if len(self._cache) < 4096:
                self._cache[address] = known
        return known

    def client_address(self, peer: str, headers: list[tuple[bytes, bytes]]) -> str:
        """The client's address: ``peer`` unless it is a trusted proxy that
        says whom it forwards for."""
        if not self._networks or not self.trusts(peer):
            return peer
        hops: list[str] = []
        forwarded: list[str] = []
        for name, value in headers:
            if name == b"x-forwarded-for":
                hops.extend(part.strip() for part in value.decode("latin-1").split(","))
            elif name == b"forwarded":
                forwarded.extend(_forwarded_for(value.decode("latin-1")))
        chain = forwarded or hops  # RFC 7239 wins when both are sent
        for entry in reversed(chain):
            address = _bare(entry)
            if address is None:
                return peer  # garbage in the chain: believe only the peer
            if not self.trusts(address):
                return address
        first = _bare(chain[0]) if chain else None
        return first or peer


def _forwarded_for(value: str) -> list[str]:
    found = []
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, item = pair.strip().partition("=")
            if key.lower() == "for":
                found.append(item.strip().strip('"'))
    return found


def _bare(address: str) -> str | None:
    """The IP of an ``X-Forwarded-For``/``Forwarded`` entry (``[v6]:port``,
    ``v4:port``), or None when it is not an address."""
    if address.startswith("["):
        address = address[1 : address.find("]")] if "]" in address else ""
    elif address.count(":") == 1:
        address = address.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
