"""Who the client is, behind trusted proxies.

The client's address comes from one header, ``[http] forwarded_header``
(``x-forwarded-for`` by default, or ``forwarded``, RFC 7239), and only when
the peer that sent it is a configured trusted proxy (default: none). The
other header is never read: were both believed, a client could send the one
its proxy does not rewrite and pick its own address. The client is the
right-most address that is not itself a trusted proxy, so a client cannot
dodge the per-address limits by sending a forged header of its own: a
trusted proxy appends the address it saw to whatever the client sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str] = (), header: str = "x-forwarded-for") -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._header = header.lower().encode()
        self._rfc7239 = self._header == b"forwarded"
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        known = self._cache.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address.partition("%")[0])
            except ValueError:
                known = False
            else:
                mapped = getattr(ip, "ipv4_mapped", None)
                candidates = (ip,) if mapped is None else (ip, mapped)
                known = any(
                    c.version == n.version and c in n for c in candidates for n in self._networks
                )
            if len(self._cache) < 4096:
                self._cache[address] = known
        return known

    def client_address(self, peer: str, headers: Sequence[tuple[bytes, bytes]]) -> str:
        """The client's address: ``peer`` unless it is a trusted proxy that
        says whom it forwards for in the configured header."""
        if not self._networks or not self.trusts(peer):
            return peer
        chain: list[str] = []
        wanted = self._header
        for name, value in headers:
            if name == wanted:
                text = value.decode("latin-1")
                if self._rfc7239:
                    chain.extend(_forwarded_for(text))
                else:
                    chain.extend(part.strip() for part in text.split(","))
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
