"""Who the client is: one header, from trusted proxies only, and IPv6
clients counted by their network (per-address login buckets as the probe)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gateway.addresses import client_group
from tests.edge.conftest import TRUSTED_PROXY
from tests.http.harness import TEST_CONFIG, GatewayProcess

BODY = {"username": "nobody", "password": "wrong1234"}


def config(header: str | None = None, prefix: int | None = None) -> str:
    http = f'\n[http]\ntrusted_proxies = ["{TRUSTED_PROXY}/32"]\n'
    if header is not None:
        http += f'forwarded_header = "{header}"\n'
    if prefix is not None:
        http += f"ipv6_prefix = {prefix}\n"
    # Two attempts per address, refilled too slowly to matter in a test.
    limited = TEST_CONFIG.replace("ip_rate = 1000.0", "ip_rate = 0.001").replace(
        "ip_burst = 100000", "ip_burst = 2"
    )
    return limited + http


@pytest.fixture
def start(tmp_path) -> Iterator:
    started: list[GatewayProcess] = []

    def run(text: str) -> GatewayProcess:
        gateway = GatewayProcess(tmp_path / f"data{len(started)}", text).start()
        started.append(gateway)
        return gateway

    yield run
    for gateway in started:
        gateway.stop()


def attempts(gateway: GatewayProcess, headers: list[dict[str, str]]) -> list[int]:
    transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
    with httpx.Client(base_url=gateway.public_url, transport=transport) as proxy:
        return [proxy.post("/v1/login", json=BODY, headers=h).status_code for h in headers]


def test_only_the_configured_header_names_the_client(start):
    gateway = start(config())
    # Forwarded is not the configured header: rotating it buys nothing.
    rotated = [
        {"X-Forwarded-For": "198.51.100.7", "Forwarded": f"for=203.0.113.{n}"} for n in range(3)
    ]
    assert attempts(gateway, rotated) == [401, 401, 429]
    # X-Forwarded-For is: each address has its own bucket.
    spread = [
        {"X-Forwarded-For": f"198.51.100.{n}", "Forwarded": "for=203.0.113.1"} for n in (20, 21, 22)
    ]
    assert attempts(gateway, spread) == [401, 401, 401]
    start_line = len(gateway.output)
    attempts(gateway, [{"X-Forwarded-For": "198.51.100.30", "Forwarded": "for=203.0.113.99"}])
    line = gateway.lines_after(start_line, '"login_failed"')[-1]
    assert json.loads(line)["ip"] == "198.51.100.30"


def test_forwarded_when_configured_and_then_only_it(start):
    gateway = start(config("forwarded"))
    rotated = [
        {"Forwarded": 'for="[2001:db8::1]:4711"', "X-Forwarded-For": f"203.0.113.{n}"}
        for n in range(3)
    ]
    assert attempts(gateway, rotated) == [401, 401, 429]
    spread = [
        {"Forwarded": f"for=198.51.100.{n}", "X-Forwarded-For": "203.0.113.1"} for n in range(3)
    ]
    assert attempts(gateway, spread) == [401, 401, 401]


def test_ipv6_clients_are_counted_by_their_network(start):
    gateway = start(config())
    one_network = [{"X-Forwarded-For": f"2001:db8:1:2::{n:x}"} for n in range(1, 5)]
    assert attempts(gateway, one_network) == [401, 401, 429, 429]
    networks = [{"X-Forwarded-For": f"2001:db8:1:{n:x}::1"} for n in range(10, 13)]
    assert attempts(gateway, networks) == [401, 401, 401]


def test_the_ipv6_prefix_is_configurable(start):
    gateway = start(config(prefix=128))
    one_network = [{"X-Forwarded-For": f"2001:db8:1:2::{n:x}"} for n in range(1, 4)]
    assert attempts(gateway, one_network) == [401, 401, 401]


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unix", "unix"),
    ],
)
def test_client_groups(address, group):
    assert client_group(address) == group
