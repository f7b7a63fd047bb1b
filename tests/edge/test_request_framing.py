"""RFC 9112 framing rules the data plane enforces beyond llhttp, fed raw
bytes over a real socket: Host, Transfer-Encoding in HTTP/1.0, trailers,
header names with ``_``, and ``Expect: 100-continue`` after a final answer.
"""

import json

from tests.edge.conftest import session_token
from tests.edge.rawhttp import Responses, connect, read_until_closed
from tests.edge.test_listener import assert_refused, exchange


def test_http_1_1_without_host_is_refused(gateway):
    assert_refused(exchange(gateway, b"GET /healthz HTTP/1.1\r\n\r\n"))


def test_two_host_lines_are_refused(gateway):
    assert_refused(exchange(gateway, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))
    assert_refused(exchange(gateway, b"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"))


def test_http_1_0_without_host_is_served(gateway):
    assert exchange(gateway, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_http_1_0_with_transfer_encoding_is_refused_with_a_close(gateway):
    answer = exchange(
        gateway,
        b"POST /v1/session/tickle HTTP/1.0\r\nConnection: keep-alive\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n",
    )
    assert_refused(answer)


def test_a_trailer_never_acts_as_a_header(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username).encode()
    with connect(gateway.public_url) as sock:
        sock.sendall(
            b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\n{}\r\n0\r\nAuthorization: Bearer " + token + b"\r\n\r\n"
        )
        ((status, _, body),) = Responses(sock).read()
    assert status == 401, body
    assert json.loads(body)["error"] == "unauthenticated"


def test_header_names_with_underscores_do_not_reach_upstreams(gateway):
    with connect(gateway.public_url) as sock:
        sock.sendall(
            b"GET /open/echo HTTP/1.1\r\nHost: x\r\nX_Auth_User: admin\r\n"
            b"X-Auth_Limit_Day: 999999999\r\nX_Forwarded_For: 10.0.0.1\r\nX-Kept: yes\r\n\r\n"
        )
        ((status, _, body),) = Responses(sock).read()
    assert status == 200, body
    names = [name.lower() for name, _ in json.loads(body)["headers"]]
    assert "x-kept" in names
    assert not [name for name in names if "_" in name], names


def test_no_100_continue_after_a_final_answer(gateway):
    # The tickle answers 401 without reading the body; the client waits for
    # a 100 before it sends one, so the connection must close, not wait.
    with connect(gateway.public_url, timeout=5) as sock:
        sock.sendall(
            b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 2\r\n\r\n"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:100]
    assert b"100 Continue" not in answer
    assert b"connection: close" in answer.lower()


def test_100_continue_comes_before_the_body_is_read(gateway):
    with connect(gateway.public_url) as sock:
        sock.sendall(
            b"POST /v1/login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        ((status, _, _),) = Responses(sock).read()
    assert status == 400
