"""Where the load goes: loopback addresses only.

A load test here floods whatever it points at, so the generator refuses any
target that is not this machine's loopback (127.0.0.0/8, ``::1`` or the name
``localhost``): a typo must not turn it on someone else's server. Names other
than ``localhost`` are refused rather than resolved, so DNS cannot send the
traffic elsewhere.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


class TargetError(ValueError):
    """A target the generator will not send load to."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str  # a loopback IP literal
    port: int
    base_path: str = ""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.base_path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def loopback_target(url: str) -> Target:
    """Parse ``http://HOST:PORT[/prefix]`` and check that HOST is loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise TargetError(f"{url!r}: only plain http:// targets are supported")
    host = parts.hostname
    if not host:
        raise TargetError(f"{url!r}: no host")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise TargetError(
            f"{url!r}: give a loopback IP address (127.0.0.1, ::1) or localhost, not a name"
        ) from None
    if not address.is_loopback:
        raise TargetError(f"{url!r}: {address} is not a loopback address; load stays on this host")
    try:
        port = parts.port
    except ValueError:
        raise TargetError(f"{url!r}: bad port") from None
    if port is None:
        port = 80
    if parts.query or parts.fragment:
        raise TargetError(f"{url!r}: no query or fragment in a target")
    return Target(str(address), port, parts.path.rstrip("/"))


def loopback_source(address: str) -> str:
    """A source address for client sockets (the flood's "many IPs"): it too
    must be loopback, so the packets never leave the host."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise TargetError(f"{address!r} is not an IP address") from None
    if not parsed.is_loopback:
        raise TargetError(f"{address} is not a loopback address")
    return str(parsed)
