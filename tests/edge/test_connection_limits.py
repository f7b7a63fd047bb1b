"""How much one client may hold of the data plane, over real sockets:
slow bodies (a whole-request deadline, a minimum body rate), connections
per address, event streams per session and per address, and the
descriptor budget that keeps health checks and support answered.
"""

import json
import time

from tests.edge import rawhttp
from tests.edge.conftest import TRUSTED_PROXY, edge_config, session_token
from tests.edge.rawhttp import Responses, closed, connect, read_until_closed
from tests.http import harness
from tests.http.harness import GatewayProcess


def own_gateway(tmp_path, upstream, **http):
    """The edge gateway with ``[http]`` settings added or replaced."""
    config = edge_config(upstream.url)
    for key, value in http.items():
        lines = [line for line in config.split("\n") if not line.startswith(f"{key} =")]
        config = "\n".join(lines).replace("[http]\n", f"[http]\n{key} = {value}\n", 1)
    return GatewayProcess(tmp_path / "data", config).start()


def trickle(gateway, head: bytes, count: int = 200) -> tuple[int, bytes]:
    """Send ``head``, then one body byte every 50 ms (up to ``count``); how
    many went out before the gateway cut the connection, and its answer."""
    return rawhttp.trickle(gateway.public_url, head, (b"x" for _ in range(count)))


def test_a_slow_body_is_cut_off_at_the_request_deadline(tmp_path, upstream):
    # Only the whole-request deadline can end this: the body keeps moving
    # (a byte every 50 ms, well within body_timeout) and no rate is asked.
    gateway = own_gateway(
        tmp_path, upstream, request_timeout_seconds=1, body_timeout_seconds=30, min_body_rate=0
    )
    try:
        sent, answer = trickle(
            gateway, b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        )
    finally:
        gateway.stop()
    assert sent < 200
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:100]


def test_a_slow_upload_to_a_route_is_held_to_the_minimum_rate(tmp_path, upstream):
    # 20 bytes a second against 500 asked, after 1 s of grace.
    gateway = own_gateway(tmp_path, upstream, body_timeout_seconds=1, min_body_rate=500)
    try:
        sent, _ = trickle(
            gateway, b"POST /open/up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
        )
    finally:
        gateway.stop()
    assert sent < 200


def test_an_upload_at_a_fair_rate_may_outlast_the_request_deadline(tmp_path, upstream):
    gateway = own_gateway(tmp_path, upstream, request_timeout_seconds=1, min_body_rate=500)
    try:
        with connect(gateway.public_url) as sock:
            sock.sendall(b"POST /open/up HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n")
            for _ in range(5):  # 2 KB every 0.4 s: 2 s in all, at 5 KB/s
                sock.sendall(b"x" * 2000)
                time.sleep(0.4)  # the (fair) sender under test
            ((status, _, body),) = Responses(sock).read()
    finally:
        gateway.stop()
    assert status == 200 and json.loads(body)["body_bytes"] == 10000


def test_connections_per_address_are_capped_but_not_for_a_trusted_proxy(tmp_path, upstream):
    gateway = own_gateway(tmp_path, upstream, max_connections_per_client=3)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    held = []
    try:
        for source in ("127.0.0.1", TRUSTED_PROXY):
            for _ in range(3):
                sock = connect(gateway.public_url, source=source)
                sock.sendall(request)
                assert Responses(sock).read()[0][0] == 200
                held.append(sock)
        with connect(gateway.public_url, timeout=5) as over:
            answer = read_until_closed(over)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 "), answer[:100]
        assert b"retry-after: 1" in head.lower()
        assert json.loads(body)["error"] == "rate_limited"
        # A trusted proxy carries many clients: no cap for it.
        with connect(gateway.public_url, source=TRUSTED_PROXY) as proxied:
            proxied.sendall(request)
            assert Responses(proxied).read()[0][0] == 200
        # A place given back is a place again (the close is the gateway's,
        # so it has counted it by the time the client sees it).
        with held.pop(0) as leaving:
            leaving.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            read_until_closed(leaving)
        with connect(gateway.public_url, timeout=5) as again:
            again.sendall(request)
            assert Responses(again).read()[0][0] == 200
    finally:
        for sock in held:
            sock.close()
        gateway.stop()


def open_event_stream(gateway, token: str, path: bytes = b"/v1/session/events"):
    """An open event stream (its head read), or the refusal."""
    sock = connect(gateway.public_url, timeout=10)
    sock.sendall(
        b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token.encode())
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, head
        head += chunk
    return sock, head


def test_event_streams_are_capped_per_session(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    streams = []
    try:
        for _ in range(4):
            sock, head = open_event_stream(gateway, token)
            streams.append(sock)
            assert head.startswith(b"HTTP/1.1 200 "), head
        for path in (b"/v1/session/events", b"/v1/session/%65vents?x=1"):
            sock, head = open_event_stream(gateway, token, path)
            streams.append(sock)
            assert head.startswith(b"HTTP/1.1 429 "), head
            assert b"retry-after: " in head.lower()
        # Another session from the same address has its own share.
        gateway.create_user(username + "b")
        sock, head = open_event_stream(gateway, session_token(gateway, username + "b"))
        streams.append(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
    finally:
        for sock in streams:
            sock.close()


def test_event_streams_are_capped_per_address(tmp_path, upstream, username):
    gateway = own_gateway(tmp_path, upstream, max_event_streams_per_client=3)
    streams = []
    try:
        gateway.create_user(username)
        gateway.create_user(username + "b")
        first = session_token(gateway, username)
        second = session_token(gateway, username + "b")
        for token in (first, first, second):
            sock, head = open_event_stream(gateway, token)
            streams.append(sock)
            assert head.startswith(b"HTTP/1.1 200 "), head
        sock, head = open_event_stream(gateway, second)
        sock.close()
        assert head.startswith(b"HTTP/1.1 429 "), head
        # A logout ends the first session's streams, and their places.
        answer = gateway.public.post("/v1/logout", headers={"Authorization": f"Bearer {first}"})
        assert answer.status_code == 200
        for sock in streams[:2]:
            assert read_until_closed(sock).endswith(b"0\r\n\r\n")
        sock, head = open_event_stream(gateway, second)
        streams.append(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
    finally:
        for sock in streams:
            sock.close()
        gateway.stop()


def test_health_and_support_are_answered_when_clients_hold_every_descriptor(
    tmp_path, upstream, monkeypatch
):
    # 256 descriptors in all; every client from one address, uncapped.
    command = harness.gateway_command
    monkeypatch.setattr(
        harness, "gateway_command", lambda: ["prlimit", "--nofile=256:256", "--", *command()]
    )
    gateway = own_gateway(
        tmp_path,
        upstream,
        max_connections_per_client=100000,
        idle_timeout_seconds=60,
    )
    held = []
    try:
        status = 0
        while status != 503:
            assert len(held) < 256, "clients were never held back"
            sock = connect(gateway.public_url)
            held.append(sock)
            sock.sendall(b"GET /v1/session HTTP/1.1\r\nHost: x\r\n\r\n")
            ((status, headers, body),) = Responses(sock).read()
        # Past the clients' share: health checks only, then a close.
        assert json.loads(body)["error"] == "unavailable"
        assert headers[b"retry-after"] == b"1"
        assert closed(sock)
        for path in (b"/healthz", b"/readyz"):
            with connect(gateway.public_url) as probe:
                probe.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
                assert Responses(probe).read()[0][0] == 200
        answer = gateway.admin.get("/admin/v1/users/nobody")
        assert answer.status_code == 404
    finally:
        for sock in held:
            sock.close()
        gateway.stop()
