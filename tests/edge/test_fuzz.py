"""Mangled requests against the data plane: every one gets a clear answer
(never a 5xx: the upstream and the control plane are up) or a close, and the
gateway logs no traceback (the autouse fixture of tests/http/conftest.py
reads its output)."""

import socket

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.edge.rawhttp import connect

VALID = [
    b"GET /v1/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\n\r\n",
    b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /trade/x\r\n"
    b"X-Forwarded-Method: POST\r\nCookie: gw_session=zzz\r\n\r\n",
    b"POST /open/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"GET /app/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 41\r\n\r\n" + b'{"username": "a", "password": "b", "x": 1}'[:41],
]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 400), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("repeat"), st.integers(0, 400), st.integers(2, 50)),
)


def mangle(data: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    for kind, where, value in steps:
        where = where % (len(data) + 1)
        if kind == "flip" and data:
            where = min(where, len(data) - 1)
            data = data[:where] + bytes([value]) + data[where + 1 :]
        elif kind == "cut":
            data = data[:where]
        elif kind == "insert":
            data = data[:where] + bytes([value]) + data[where:]
        elif kind == "repeat":
            data = data[:where] + data[where : where + 8] * value + data[where:]
    return data


@settings(max_examples=1000, deadline=None)
@given(base=st.sampled_from(VALID), steps=st.lists(mutation, min_size=1, max_size=4))
def test_mangled_requests_never_get_a_server_error(gateway, base, steps):
    data = mangle(base, steps)
    with connect(gateway.public_url, timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # no more is coming: answer or close
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            status = int(line.split(b" ")[1])
            # 505: a version this server does not speak is answered as such.
            assert status < 500 or status == 505, (data, answer[:300])
