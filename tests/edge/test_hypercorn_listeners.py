"""The listeners that stay on Hypercorn (the admin API here; ``h2_bind`` is
the same code) close connections as HTTP/1.1 says, and speak cleartext
HTTP/2 only when configured.

The edge gateway runs with a 2 s idle deadline (tests/edge/conftest.py).
"""

import json

import pytest

from tests.edge.conftest import edge_config
from tests.edge.rawhttp import Responses, closed, connect, read_until_closed
from tests.http.harness import GatewayProcess

ADMIN_PATHS = (b"/admin/v1/users/nobody", b"/nowhere", b"/metrics")


CLOSING = {
    "connection-close": b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "http-1.0": b"GET %s HTTP/1.0\r\n\r\n",
}


@pytest.mark.parametrize("path", ADMIN_PATHS)
@pytest.mark.parametrize("kind", CLOSING)
def test_a_closing_request_closes_the_connection(gateway, path, kind):
    with connect(gateway.admin_url, timeout=5) as sock:
        sock.sendall(CLOSING[kind] % path)
        try:
            answer = read_until_closed(sock)
        except TimeoutError:
            pytest.fail(f"the connection stayed open after a {kind} answer")
    assert answer.startswith(b"HTTP/1.1 ")


def test_an_idle_keep_alive_connection_is_closed(gateway):
    with connect(gateway.admin_url, timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        ((status, _, _),) = Responses(sock).read()
        assert status == 200
        assert closed(sock), "the idle connection was kept past the idle deadline"


def test_a_keep_alive_connection_serves_many_requests(gateway):
    with connect(gateway.admin_url, timeout=10) as sock:
        responses = Responses(sock)
        for _ in range(20):
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert [status for status, _, _ in responses.read(20)] == [200] * 20


H2C_UPGRADE = (
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
)


def test_h2c_upgrade_is_ignored_by_default(gateway):
    with connect(gateway.admin_url) as sock:
        sock.sendall(H2C_UPGRADE)
        ((status, _, body),) = Responses(sock).read()
    assert status == 200 and b"gateway_" in body


def test_h2c_prior_knowledge_is_not_spoken_by_default(gateway):
    with connect(gateway.admin_url) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        answer = read_until_closed(sock)
    # An HTTP/2 server answers with a binary SETTINGS frame; this is HTTP/1.1.
    assert answer.startswith(b"HTTP/1.1 4"), answer[:80]


def test_h2c_upgrade_when_configured(tmp_path, upstream):
    config = edge_config(upstream.url).replace("[http]\n", "[http]\nh2c = true\n", 1)
    gateway = GatewayProcess(tmp_path / "data", config).start()
    try:
        with connect(gateway.admin_url) as sock:
            sock.sendall(H2C_UPGRADE)
            head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 "), head[:80]
    finally:
        gateway.stop()


def test_the_last_request_a_connection_may_carry_closes_it_cleanly(gateway):
    # Hypercorn closes a keep-alive connection after its 1,000th request; that
    # close once logged a BusyResourceError traceback now and then.
    start = len(gateway.output)
    with connect(gateway.admin_url, timeout=30) as sock:
        responses = Responses(sock)
        answers = []
        for _ in range(10):  # in batches, as a client pipelining would
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
            answers += responses.read(100)
        assert [status for status, _, _ in answers] == [200] * 1000
        assert answers[-1][1].get(b"connection") == b"close"
        assert closed(sock), "the connection stayed open after its last request"
    logged = "".join(gateway.output[start:])
    assert "Traceback" not in logged and "Error" not in logged, logged


def test_a_request_head_over_the_limit_in_one_read_is_431(gateway):
    # 10 KB of head in one segment, against max_header_bytes = 4096: h11
    # bounds only a head that is still incomplete.
    with connect(gateway.admin_url, timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n")
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"] == "bad_request"


def test_a_request_head_within_the_limit_is_served(gateway):
    with connect(gateway.admin_url, timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n")
        ((status, _, _),) = Responses(sock).read()
    assert status == 200


@pytest.mark.parametrize("listener", ["public_url", "admin_url"])
def test_no_server_header_reaches_clients(gateway, listener):
    # The public address relays the control plane's answers (Hypercorn).
    with connect(getattr(gateway, listener)) as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        ((status, headers, _),) = Responses(sock).read()
    assert status in (200, 401, 404)
    assert b"server" not in headers, headers[b"server"]
