"""Client addresses as the per-address limits count them.

An IPv4 address is one client. An IPv6 client usually holds a whole /64 (a
home or a cloud machine is given one, and picks addresses in it at will), so
per-address limits that counted each IPv6 address apart would give one
machine 2^64 shares. Every per-address limit (login buckets, admission,
hashing shares, connection and stream caps) keys on ``client_group``: IPv6
addresses grouped by ``[http] ipv6_prefix`` (64 by default), IPv4-mapped
IPv6 addresses as their IPv4 address. The audit log keeps the address itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

DEFAULT_IPV6_PREFIX = 64


@lru_cache(maxsize=65_536)
def client_group(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """The key of ``address`` for per-address limits: an IPv4 address as it
    is, an IPv6 one as its ``/ipv6_prefix`` network; anything else (a Unix
    socket's "unix", "unknown") as it is."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    mapped = ip.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    if ipv6_prefix >= 128:
        return str(ip)
    network = ipaddress.IPv6Network((ip, ipv6_prefix), strict=False)
    return f"{network.network_address}/{ipv6_prefix}"


class PerClientCount:
    """How many of something (open connections) each client group holds,
    capped at ``cap``; peers ``exempt`` says carry many clients (trusted
    proxies) are not counted."""

    def __init__(
        self,
        cap: int,
        ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
        exempt: Callable[[str], bool] = lambda address: False,
    ) -> None:
        self.cap = cap
        self._ipv6_prefix = ipv6_prefix
        self._exempt = exempt
        self._held: dict[str, int] = {}

    def admit(self, address: str) -> str | None:
        """The key the holder counts under ("" for none), or None when its
        group holds its share already."""
        if not address or self._exempt(address):
            return ""
        key = client_group(address, self._ipv6_prefix)
        count = self._held.get(key, 0)
        if count >= self.cap:
            return None
        self._held[key] = count + 1
        return key

    def leave(self, key: str) -> None:
        if key:
            left = self._held[key] - 1
            if left:
                self._held[key] = left
            else:
                del self._held[key]
