"""The reverse proxy end to end: a real gateway in front of a real upstream."""

import hashlib
import json
import os

import httpx
import pytest

from tests.edge.conftest import TRUSTED_PROXY, login, session_token
from tests.edge.rawhttp import Responses, connect
from tests.edge.wsclient import WebSocket


def upstream_view(answer: httpx.Response) -> dict:
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-upstream"] == "yes"
    view = answer.json()
    view["headers"] = {}
    for name, value in answer.json()["headers"]:
        view["headers"].setdefault(name, []).append(value)
    return view


def test_a_session_passes_with_identity_and_without_its_token(gateway, username):
    gateway.create_user(username, account="ACC9")
    token = session_token(gateway, username)
    answer = gateway.public.get(
        "/app/orders?open=1",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Auth-User": "someone-else",
            "X-Auth-Limit-Day": "unlimited",
            "Cookie": "theme=dark",
            "X-Forwarded-For": "198.51.100.7",
        },
    )
    view = upstream_view(answer)
    headers = view["headers"]
    assert (view["method"], view["path"], view["query"]) == ("GET", "/app/orders", "open=1")
    assert headers["x-auth-user"] == [username]
    assert headers["x-auth-account"] == ["ACC9"]
    assert headers["x-auth-limit-day"] == ["50000"]
    assert "authorization" not in headers
    assert headers["cookie"] == ["theme=dark"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]  # the forged one is gone
    assert headers["x-forwarded-proto"] == ["http"]
    assert token not in answer.text


def test_the_session_cookie_does_not_travel_upstream(gateway, username):
    gateway.create_user(username)
    cookie = session_token(gateway, username, platform="portal")
    answer = gateway.public.get("/app/x", headers={"Cookie": f"a=1; gw_session={cookie}; b=2"})
    assert upstream_view(answer)["headers"]["cookie"] == ["a=1; b=2"]


def test_a_public_route_takes_a_stale_cookie_as_anonymous(gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    gateway.advance(901)  # past the idle timeout: the cookie is stale
    answer = gateway.public.get("/open/page", headers={"Cookie": f"gw_session={portal}"})
    headers = upstream_view(answer)["headers"]
    assert headers["x-auth-user"] == [""]
    assert portal not in str(headers)
    refused = gateway.public.get("/app/x", headers={"Cookie": f"gw_session={portal}"})
    assert refused.json()["error"] == "session_expired"


def test_an_upstream_cannot_set_the_gateway_cookies(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = gateway.public.get(
        "/app/x?set_cookie=gw_session%3Dfixed&set_cookie=gw_device%3Dx&set_cookie=theme%3Ddark",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    assert answer.headers.get_list("set-cookie") == ["theme=dark"]


def test_a_route_may_ask_for_the_credential(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = gateway.public.get("/keep/x", headers={"Authorization": f"Bearer {token}"})
    assert upstream_view(answer)["headers"]["authorization"] == [f"Bearer {token}"]
    answer = gateway.public.get("/app/x", headers={"Authorization": f"Bearer {token}"})
    assert "authorization" not in upstream_view(answer)["headers"]


def test_no_credential_is_refused_before_the_upstream(gateway):
    answer = gateway.public.get("/app/x")
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"
    assert "x-upstream" not in answer.headers


def test_a_route_can_require_a_trading_session_and_strip_its_prefix(gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    trading = session_token(gateway, username)
    refused = gateway.public.get("/trade/orders", headers={"Cookie": f"gw_session={portal}"})
    assert refused.status_code == 403
    view = upstream_view(
        gateway.public.get("/trade/orders?id=5", headers={"Authorization": f"Bearer {trading}"})
    )
    assert view["path"] == "/base/orders" and view["query"] == "id=5"


def test_a_public_route_needs_no_credential(gateway):
    assert upstream_view(gateway.public.get("/open/page"))["path"] == "/open/page"


def test_hop_by_hop_headers_stay_on_their_hop(gateway):
    answer = gateway.public.get(
        "/open/x",
        headers={
            "Connection": "keep-alive, X-Private",
            "X-Private": "1",
            "TE": "trailers",
            "Keep-Alive": "timeout=5",
            "X-Kept": "yes",
        },
    )
    headers = upstream_view(answer)["headers"]
    assert "x-private" not in headers and "te" not in headers and "keep-alive" not in headers
    assert headers["x-kept"] == ["yes"]


def test_upstream_connections_are_pooled(gateway):
    ports = {upstream_view(gateway.public.get("/open/x"))["client_port"] for _ in range(5)}
    assert len(ports) == 1


def test_a_streamed_answer_arrives_whole(gateway):
    with gateway.public.stream("GET", "/open/stream?chunks=2000&size=500") as answer:
        assert answer.headers["transfer-encoding"] == "chunked"
        body = b"".join(answer.iter_bytes())
    assert body == b"".join(str(i % 10).encode() * 500 for i in range(2000))


def test_head_gets_the_head_only(gateway):
    answer = gateway.public.head("/open/x")
    assert answer.status_code == 200 and answer.content == b""
    assert gateway.public.get("/open/y").status_code == 200  # the connection still works


def test_a_large_upload_streams_in_bounded_memory(gateway):
    size, piece = 1 << 30, os.urandom(1 << 20)
    digest = hashlib.sha256()

    def body():
        for _ in range(size // len(piece)):
            digest.update(piece)
            yield piece

    before = rss_kib(gateway)
    answer = httpx.post(gateway.public_url + "/open/upload", content=body(), timeout=120)
    grown = rss_kib(gateway) - before
    view = upstream_view(answer)
    assert view["body_bytes"] == size
    assert view["body_sha256"] == digest.hexdigest()
    assert grown < 64 * 1024, f"the gateway grew by {grown} KiB for a 1 GiB upload"


def rss_kib(gateway) -> int:
    with open(f"/proc/{gateway.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):  # peak resident size
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_an_unreachable_upstream_is_502(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = gateway.public.get("/dead/x", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 502
    assert answer.json()["error"] == "unavailable"
    assert answer.headers["retry-after"] == "1"


def test_a_slow_upstream_is_504(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = gateway.public.get("/app/slow?seconds=3", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 504
    assert answer.json()["error"] == "unavailable"
    assert answer.json()["message"]


def test_a_trusted_proxy_says_who_the_client_is(gateway):
    transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
    with httpx.Client(base_url=gateway.public_url, transport=transport) as via_proxy:
        answer = via_proxy.get("/open/x", headers={"X-Forwarded-For": "203.0.113.9"})
    assert upstream_view(answer)["headers"]["x-forwarded-for"] == [f"203.0.113.9, {TRUSTED_PROXY}"]


def test_websockets_pass_both_ways_and_close_when_the_session_ends(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    socket_ = WebSocket(gateway.public_url, "/app/ws", [("authorization", f"Bearer {token}")])
    socket_.send("hello")
    assert socket_.receive() == "echo:hello"
    socket_.send("again")
    assert socket_.receive() == "echo:again"
    # A takeover from another platform ends the session: its socket closes at once.
    answer = gateway.public.post(
        "/v1/login", json={"username": username, "password": "secret123", "platform": "mobile"}
    )
    login_id = answer.json()["login_id"]
    gateway.public.post(f"/v1/login/{login_id}/confirm", json={"takeover": True})
    assert socket_.receive() is None


def test_websockets_need_a_credential(gateway):
    with pytest.raises(ConnectionRefusedError):
        WebSocket(gateway.public_url, "/app/ws", [])


def test_a_logout_closes_the_socket_too(gateway, username):
    gateway.create_user(username)
    token = login(gateway, username, "mobile").json()["token"]
    socket_ = WebSocket(gateway.public_url, "/app/ws", [("authorization", f"Bearer {token}")])
    socket_.send("x")
    assert socket_.receive() == "echo:x"
    gateway.public.post("/v1/logout", headers={"Authorization": f"Bearer {token}"})
    assert socket_.receive() is None


def test_dot_segments_are_not_proxied(gateway):
    for path in (b"/open/../app/x", b"/open/%2E%2E/app", b"/open/./x", b"/open/a\\..\\b"):
        with connect(gateway.public_url) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            ((status, headers, _),) = Responses(sock).read()
        assert status == 400, path
        assert b"x-upstream" not in headers


def test_a_socket_closes_when_its_session_expires(gateway, username):
    gateway.create_user(username)
    token = login(gateway, username, "desktop").json()["token"]
    socket_ = WebSocket(gateway.public_url, "/app/ws", [("authorization", f"Bearer {token}")])
    socket_.send("x")
    assert socket_.receive() == "echo:x"
    gateway.advance(901)  # past the 15 idle minutes: the sweep ends the session
    assert socket_.receive() is None


def test_a_unix_socket_upstream_with_a_full_backlog_is_waited_for():
    import socket as sockets
    import tempfile

    import trio

    from gateway.edge.upstream import Origin, UpstreamPool
    from gateway.edge.watchdog import Watchdog

    path = tempfile.mkdtemp() + "/upstream.sock"
    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    async def main():
        pool = UpstreamPool(Origin.parse(f"unix:{path}"), Watchdog(), connect_timeout=10)
        first = await pool.acquire()
        second = await pool.acquire()  # the backlog (1) is full after these

        async def accept_soon():
            await trio.sleep(0.2)  # the listener catches up only later
            accepted.append(listener.accept()[0])

        accepted = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_soon)
            third = await pool.acquire()  # refused with EAGAIN until then
        await third.send(b"ping", timeout=5)
        for connection in (first, second, third):
            await pool.discard(connection)

    trio.run(main)
    listener.close()


def test_expect_100_continue_is_answered_before_the_body_is_sent(gateway):
    with connect(gateway.public_url) as sock:
        sock.sendall(
            b"POST /open/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(b"hello")
        ((status, _, body),) = Responses(sock).read()
    assert status == 200
    view = json.loads(body)
    assert view["body_bytes"] == 5
    assert "expect" not in {name for name, _ in view["headers"]}
