"""Upgrades and long exchanges through the reverse proxy, against an
upstream that does what it is asked and more (``raw_upstream.py``): only a
valid WebSocket handshake is tunnelled, only after a 101 that completes it,
and a tunnel or a streamed answer ends as soon as its credential does, with
a Close frame (1008 and the reason) to both sides of a WebSocket."""

import json
import uuid

import pytest

from tests.edge.conftest import session_token
from tests.edge.raw_upstream import WAIT, raw_gateway_fixture, raw_upstream_fixture  # noqa: F401
from tests.edge.rawhttp import Responses, closed, connect, read_until_closed
from tests.edge.wsclient import WebSocket

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample: base64 of 16 bytes


def raw_request(gateway, lines: list[str]) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request as bytes; its answer, and the connection must close after it."""
    with connect(gateway.public_url) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        ((status, headers, body),) = Responses(sock).read()
        assert closed(sock), "the connection stays open after an upgrade request"
    return status, headers, body


def seen_upstream(body: bytes) -> dict[str, list[str]]:
    view = json.loads(body)
    found: dict[str, list[str]] = {}
    for name, value in view["headers"]:
        found.setdefault(name, []).append(value)
    return found


def bearer(gateway, username: str, platform: str = "tws") -> str:
    gateway.create_user(username)
    return session_token(gateway, username, platform)


def take_over(gateway, username: str) -> None:
    answer = gateway.public.post(
        "/v1/login", json={"username": username, "password": "secret123", "platform": "mobile"}
    )
    login_id = answer.json()["login_id"]
    confirmed = gateway.public.post(f"/v1/login/{login_id}/confirm", json={"takeover": True})
    assert confirmed.status_code == 200, confirmed.text


def new_key(gateway, token: str) -> tuple[str, str]:
    created = gateway.public.post(
        "/v1/api-keys",
        json={"name": "ws", "scopes": [{"route": "app"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    return created.json()["key_id"], created.json()["key"]


# --- only a WebSocket handshake is an upgrade ------------------------------------


def test_h2c_is_answered_plainly_on_a_websocket_route(raw_gateway, username):
    token = bearer(raw_gateway, username)
    status, headers, body = raw_request(
        raw_gateway,
        [
            "GET /app/orders HTTP/1.1",
            "Host: x",
            f"Authorization: Bearer {token}",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQAAP__",
        ],
    )
    assert status == 200, (status, body)  # the upstream switches to h2c if it is asked
    seen = seen_upstream(body)
    assert "upgrade" not in seen and "http2-settings" not in seen
    assert seen.get("connection", ["close"]) != ["upgrade"]
    assert headers[b"connection"] == b"close"


@pytest.mark.parametrize(
    "lines",
    [
        ["GET /app/x HTTP/1.1", "Connection: Upgrade", "Upgrade: TLS/1.0"],
        [
            "GET /app/x HTTP/1.1",
            "Connection: Upgrade",
            "Upgrade: websocket, h2c",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Key: {KEY}",
        ],
        [
            "GET /app/x HTTP/1.1",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 8",
            f"Sec-WebSocket-Key: {KEY}",
        ],
        [
            "GET /app/x HTTP/1.1",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: c2hvcnQ=",
        ],
        [
            "GET /app/x HTTP/1.1",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
        ],
        [
            "POST /app/x HTTP/1.1",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Content-Length: 0",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Key: {KEY}",
        ],
    ],
    ids=["tls", "two-tokens", "version-8", "short-key", "no-key", "post"],
)
def test_anything_but_a_websocket_handshake_is_answered_plainly(raw_gateway, username, lines):
    token = bearer(raw_gateway, username)
    status, _, body = raw_request(
        raw_gateway, [lines[0], "Host: x", f"Authorization: Bearer {token}", *lines[1:]]
    )
    assert status == 200, (status, body)
    assert "upgrade" not in seen_upstream(body)


def test_h2c_is_answered_plainly_on_a_plain_route(raw_gateway):
    # HTTP2-Settings goes with the upgrade even when Connection does not name it.
    status, _, body = raw_request(
        raw_gateway,
        [
            "GET /open/x HTTP/1.1",
            "Host: x",
            "Connection: Upgrade",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQAAP__",
        ],
    )
    assert status == 200
    seen = seen_upstream(body)
    assert "upgrade" not in seen and "http2-settings" not in seen


def test_h2c_is_answered_plainly_by_the_control_plane(raw_gateway):
    # Hypercorn behind the relay would switch to h2c if the upgrade reached it.
    status, _, body = raw_request(
        raw_gateway,
        [
            "GET /openapi.json HTTP/1.1",
            "Host: x",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQAAP__",
        ],
    )
    assert status == 200 and json.loads(body)["openapi"]


@pytest.mark.parametrize("path", ["ws-bad-accept", "ws-h2c", "ws-no-accept"])
def test_a_101_that_is_not_the_handshakes_answer_is_502(raw_gateway, raw_upstream, username, path):
    token = bearer(raw_gateway, username)
    tag = uuid.uuid4().hex
    status, headers, body = raw_request(
        raw_gateway,
        [
            f"GET /app/{path}?tag={tag} HTTP/1.1",
            "Host: x",
            f"Authorization: Bearer {token}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Key: {KEY}",
        ],
    )
    assert status == 502 and json.loads(body)["error"] == "unavailable"
    assert headers[b"connection"] == b"close"
    assert raw_upstream.event("closed:" + tag).wait(WAIT), "the upstream connection stays open"


# --- a tunnel ends with its credential, with a Close frame to both sides ---------


def open_socket(gateway, raw_upstream, credential: tuple[str, str]) -> tuple[WebSocket, str]:
    tag = uuid.uuid4().hex
    socket_ = WebSocket(gateway.public_url, f"/app/ws?tag={tag}", [credential])
    socket_.send("hello")
    assert socket_.receive() == "echo:hello"
    return socket_, tag


def assert_closed_for(socket_: WebSocket, raw_upstream, tag: str, reason: str) -> None:
    assert socket_.receive() is None
    assert socket_.closed_with == (1008, reason)
    assert raw_upstream.queue("close:" + tag).get(timeout=WAIT) == (1008, reason)
    socket_.close()


def test_a_takeover_sends_session_replaced_to_both_sides(raw_gateway, raw_upstream, username):
    token = bearer(raw_gateway, username)
    socket_, tag = open_socket(raw_gateway, raw_upstream, ("authorization", f"Bearer {token}"))
    take_over(raw_gateway, username)
    assert_closed_for(socket_, raw_upstream, tag, "session_replaced")


def test_a_logout_sends_session_ended_to_both_sides(raw_gateway, raw_upstream, username):
    token = bearer(raw_gateway, username)
    socket_, tag = open_socket(raw_gateway, raw_upstream, ("authorization", f"Bearer {token}"))
    raw_gateway.public.post("/v1/logout", headers={"Authorization": f"Bearer {token}"})
    assert_closed_for(socket_, raw_upstream, tag, "session_ended")


def test_an_expiry_sends_session_expired_to_both_sides(raw_gateway, raw_upstream, username):
    token = bearer(raw_gateway, username, "desktop")
    socket_, tag = open_socket(raw_gateway, raw_upstream, ("authorization", f"Bearer {token}"))
    raw_gateway.advance(901)  # past the 15 idle minutes
    assert_closed_for(socket_, raw_upstream, tag, "session_expired")


def test_a_revoked_api_key_closes_its_socket(raw_gateway, raw_upstream, username):
    token = bearer(raw_gateway, username)
    key_id, key = new_key(raw_gateway, token)
    socket_, tag = open_socket(raw_gateway, raw_upstream, ("x-api-key", key))
    revoked = raw_gateway.public.delete(
        f"/v1/api-keys/{key_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 200, revoked.text
    assert_closed_for(socket_, raw_upstream, tag, "api_key_revoked")


def test_a_key_revoked_by_support_closes_its_socket(raw_gateway, raw_upstream, username):
    key_id, key = new_key(raw_gateway, bearer(raw_gateway, username))
    socket_, tag = open_socket(raw_gateway, raw_upstream, ("authorization", f"Bearer {key}"))
    assert raw_gateway.admin.delete(f"/admin/v1/api-keys/{key_id}").status_code == 200
    assert_closed_for(socket_, raw_upstream, tag, "api_key_revoked")


# --- a streamed answer ends with its credential ----------------------------------


def start_drip(gateway, credential: str):
    tag = uuid.uuid4().hex
    sock = connect(gateway.public_url)
    sock.sendall(f"GET /app/drip?tag={tag} HTTP/1.1\r\nHost: x\r\n{credential}\r\n\r\n".encode())
    received = b""
    while b"first" not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    return sock, tag


def assert_cut(sock, raw_upstream, tag: str) -> None:
    raw_upstream.event("send:" + tag).set()  # the upstream goes on...
    rest = read_until_closed(sock)  # ...the client gets no more
    sock.close()
    assert b"second" not in rest
    assert raw_upstream.event("closed:" + tag).wait(WAIT), "the upstream connection stays open"


def test_a_streamed_answer_stops_when_its_session_is_taken_over(
    raw_gateway, raw_upstream, username
):
    token = bearer(raw_gateway, username)
    sock, tag = start_drip(raw_gateway, f"Authorization: Bearer {token}")
    take_over(raw_gateway, username)
    assert_cut(sock, raw_upstream, tag)


def test_a_streamed_answer_stops_when_its_api_key_is_revoked(raw_gateway, raw_upstream, username):
    token = bearer(raw_gateway, username)
    key_id, key = new_key(raw_gateway, token)
    sock, tag = start_drip(raw_gateway, f"X-API-Key: {key}")
    assert raw_gateway.admin.delete(f"/admin/v1/api-keys/{key_id}").status_code == 200
    assert_cut(sock, raw_upstream, tag)


def test_a_streamed_answer_of_a_live_session_goes_on(raw_gateway, raw_upstream, username):
    token = bearer(raw_gateway, username)
    sock, tag = start_drip(raw_gateway, f"Authorization: Bearer {token}")
    raw_upstream.event("send:" + tag).set()
    received = b""
    while b"second" not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    sock.close()
