"""What the edge passes on besides paths: methods, transfer codings, the
headers that name a client, and bodies that are slow to come."""

import json

import httpx

from tests.edge.conftest import TRUSTED_PROXY, edge_config, session_token
from tests.edge.raw_upstream import raw_gateway_fixture, raw_upstream_fixture  # noqa: F401
from tests.edge.rawhttp import Responses, connect
from tests.edge.test_proxy import upstream_view
from tests.http.harness import GatewayProcess


def raw(gateway, head: str, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    with connect(gateway.public_url) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        return Responses(sock).read()[0]


def test_connect_and_trace_are_refused_everywhere(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    for method in ("CONNECT", "TRACE"):
        for path in ("/app/x", "/open/x", "/v1/session", "/v1/logout"):
            status, headers, body = raw(
                gateway,
                f"{method} {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n"
                "Connection: close\r\n",
            )
            assert status == 405, (method, path, body)
            assert b"x-upstream" not in headers
            assert b"CONNECT" not in headers[b"allow"] and b"GET" in headers[b"allow"]


def test_only_chunked_is_a_transfer_coding(gateway):
    for coding in ("gzip, chunked", "chunked, chunked", "identity"):
        status, headers, _ = raw(
            gateway,
            f"POST /open/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: {coding}\r\n"
            "Connection: close\r\n",
            b"2\r\nok\r\n0\r\n\r\n",
        )
        assert status == 400, (coding, status)
        assert b"x-upstream" not in headers


def test_headers_that_name_the_client_are_the_gateways_word(gateway):
    forged = {
        "X-Real-IP": "6.6.6.6",
        "True-Client-IP": "6.6.6.6",
        "X-Client-IP": "6.6.6.6",
        "CF-Connecting-IP": "6.6.6.6",
    }
    headers = upstream_view(gateway.public.get("/open/x", headers=forged))["headers"]
    assert "6.6.6.6" not in json.dumps(headers)
    # From a trusted proxy, several X-Forwarded-For lines are one list, and
    # its Forwarded goes on with this hop added.
    transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
    with httpx.Client(base_url=gateway.public_url, transport=transport) as proxy:
        answer = proxy.get(
            "/open/x",
            headers=[
                ("X-Forwarded-For", "203.0.113.1"),
                ("X-Forwarded-For", "203.0.113.2"),
                ("Forwarded", "for=203.0.113.1"),
            ],
        )
    headers = upstream_view(answer)["headers"]
    assert headers["x-forwarded-for"] == [f"203.0.113.1, 203.0.113.2, {TRUSTED_PROXY}"]
    assert headers["forwarded"] == [f"for=203.0.113.1, for={TRUSTED_PROXY}"]


def test_a_small_slow_body_holds_no_upstream_connection(raw_gateway):
    # A body up to [proxy] buffer_body_bytes is read whole before an
    # upstream connection is taken: while it trickles in, the pooled
    # connection stays free for the next request.
    idle = json.loads(raw_gateway.public.get("/open/x").text)["connection"]
    with connect(raw_gateway.public_url) as slow:
        slow.sendall(b"POST /open/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nhello")
        following = json.loads(raw_gateway.public.get("/open/y").text)
        assert following["connection"] == idle
        slow.sendall(b"world")
        status, _, body = Responses(slow).read()[0]
    assert status == 200 and json.loads(body)["method"] == "POST"


def test_large_uploads_in_flight_are_capped_per_address(tmp_path, upstream):
    config = edge_config(upstream.url) + "\n[proxy]\nmax_uploads_per_client = 2\n"
    gateway = GatewayProcess(tmp_path / "data", config).start()
    head = b"POST /open/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n\r\n"
    try:
        held = [connect(gateway.public_url) for _ in range(2)]
        for sock in held:
            sock.sendall(head + b"x" * 1000)
        # The two uploads are under way; a third from the address waits its turn.
        with connect(gateway.public_url) as third:
            third.sendall(head + b"x" * 1000)
            status, _, body = Responses(third).read()[0]
        assert status == 429 and json.loads(body)["error"] == "rate_limited"
        # A small body is read whole first and is not an upload in flight.
        assert gateway.public.post("/open/x", content=b"small").status_code == 200
        # An upload that ends frees its place.
        held[0].sendall(b"x" * 999_000)
        assert Responses(held[0]).read()[0][0] == 200
        with connect(gateway.public_url) as again:
            again.sendall(head + b"x" * 1_000_000)
            assert Responses(again).read()[0][0] == 200
        for sock in held:
            sock.close()
    finally:
        gateway.stop()
