"""The data plane's HTTP/1.1 connection layer, fed raw bytes over a real
socket: smuggling shapes, limits, slow senders, pipelining, keep-alive.

The edge gateway runs with a 1 s header deadline, a 2 s idle deadline, 4 KiB
of headers and 40 header lines (tests/edge/conftest.py).
"""

import contextlib
import json
import shutil
import subprocess

import pytest

from tests.edge.conftest import edge_config
from tests.edge.rawhttp import Responses, closed, connect, read_until_closed, trickle
from tests.http.harness import GatewayProcess

SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def exchange(gateway, data: bytes) -> bytes:
    with connect(gateway.public_url) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def assert_refused(answer: bytes, status: int = 400) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"] == "bad_request"
    assert answer.count(b"HTTP/1.1") == 1, "a second (smuggled) request was answered"


def test_content_length_with_transfer_encoding_is_refused_with_a_close(gateway):
    answer = exchange(
        gateway,
        b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    )
    assert_refused(answer)


def test_duplicate_content_length_is_refused_with_a_close(gateway):
    answer = exchange(
        gateway,
        b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        b"Content-Length: 35\r\n\r\n" + SMUGGLED,
    )
    assert_refused(answer)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\nHost: x\n\n",  # bare LF
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",  # obs-fold
        b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",  # space before the colon
        b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
    ],
    ids=[
        "bare-lf",
        "obs-fold",
        "space-before-colon",
        "signed-length",
        "te-chunked-not-last",
        "version",
    ],
)
def test_malformed_requests_are_refused_with_a_close(gateway, request_bytes):
    answer = exchange(gateway, request_bytes)
    head = answer.split(b"\r\n", 1)[0]
    assert head.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 505 ")), answer
    assert b"connection: close" in answer.lower()


def test_a_chunk_size_that_overflows_is_answered(gateway):
    answer = exchange(
        gateway,
        b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ffffffffffffffffffffffff\r\n",
    )
    assert_refused(answer)


def test_too_many_header_bytes_is_431(gateway):
    answer = exchange(
        gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b"connection: close" in answer


def test_too_many_header_lines_is_431(gateway):
    lines = b"".join(b"X-%d: 1\r\n" % n for n in range(41))
    answer = exchange(gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(gateway):
    # Only the head goes out: the 413 must not wait for a body.
    answer = exchange(
        gateway, b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert b"connection: close" in answer


def test_a_chunked_body_over_the_limit_stops_being_read(gateway):
    with connect(gateway.public_url) as sock:
        sock.sendall(
            b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        sent = 0
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            # The gateway answers 413 and closes; an endless sender must hit the close.
            while sent < 64 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            answer = sock.recv(65536)
    assert sent < 64 * 1024 * 1024
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_slow_sender_is_cut_off_at_the_header_deadline(tmp_path, upstream):
    # A long keep-alive deadline, so only the header deadline can end this.
    config = edge_config(upstream.url).replace(
        "idle_timeout_seconds = 2", "idle_timeout_seconds = 60"
    )
    gateway = GatewayProcess(tmp_path / "data", config).start()
    try:
        trickled, answer = _trickle_headers(gateway)
    finally:
        gateway.stop()
    assert trickled < 200
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def _trickle_headers(gateway) -> tuple[int, bytes]:
    # One header byte every 50 ms, for up to 10 s: the 1 s deadline must end it first.
    line = b"X-Slow: a\r\n"
    pieces = (line[n % 11 : n % 11 + 1] for n in range(200))
    return trickle(gateway.public_url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", pieces)


def test_an_idle_keep_alive_connection_is_closed(gateway):
    with connect(gateway.public_url, timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        ((status, _, _),) = Responses(sock).read()
        assert status == 200
        assert closed(sock), "the idle connection was kept past the idle deadline"


def test_pipelined_requests_are_answered_in_order(gateway):
    with connect(gateway.public_url) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/session HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /v1/session/tickle HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        answers = Responses(sock).read(4)
    assert [status for status, _, _ in answers] == [200, 401, 401, 200]
    assert json.loads(answers[3][2])["openapi"].startswith("3.")


def test_connection_close_is_honoured(gateway):
    for path in (b"/healthz", b"/openapi.json", b"/nowhere"):
        with connect(gateway.public_url) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path)
            answer = read_until_closed(sock)
        assert b"connection: close" in answer.lower(), answer[:200]


def test_http_1_0_closes_unless_it_asks_for_keep_alive(gateway):
    with connect(gateway.public_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")
    with connect(gateway.public_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        responses = Responses(sock)
        ((status, headers, _),) = responses.read()
        assert status == 200 and headers[b"connection"] == b"keep-alive"
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert responses.read()[0][0] == 200


def test_a_wrong_method_on_a_hot_path_is_405_with_allow(gateway):
    answer = gateway.public.post("/v1/session")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert answer.json()["error"] == "bad_request"
    assert gateway.public.get("/v1/session/tickle").headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("listener", "path", "gauge"),
    [
        ("public_url", b"/healthz", b"gateway_open_connections 3"),
        # The admin listener is Hypercorn's protocol code on an accept loop of ours.
        ("admin_url", b"/metrics", b'gateway_hypercorn_open_connections{listener="admin"} 3'),
    ],
)
def test_open_connections_are_capped(tmp_path, upstream, listener, path, gauge):
    config = edge_config(upstream.url).replace(
        "idle_timeout_seconds = 2", "idle_timeout_seconds = 60\nmax_connections = 3"
    )
    gateway = GatewayProcess(tmp_path / "data", config).start()
    url, request = getattr(gateway, listener), b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path
    held = []
    try:
        for _ in range(3):
            sock = connect(url)
            sock.sendall(request)
            assert Responses(sock).read()[0][0] == 200
            held.append(sock)
        waiting = connect(url, timeout=0.5)
        waiting.sendall(request)
        if listener == "public_url":  # (the admin listener is full: asked below instead)
            assert gauge in gateway.admin.get("/metrics").content
        with pytest.raises(TimeoutError):
            waiting.recv(1)  # queued in the backlog, not served
        held.pop().close()
        waiting.settimeout(10)
        ((status, _, body),) = Responses(waiting).read()
        assert status == 200
        if listener == "admin_url":  # its own /metrics, seen from inside the cap
            assert gauge in body
        waiting.close()
    finally:
        for sock in held:
            sock.close()
        gateway.stop()


def test_the_listen_backlog_is_the_configured_one(gateway):
    ss = shutil.which("ss")
    assert ss, "ss (iproute2) is not installed (.ci/run installs it)"
    port = gateway.public_url.rsplit(":", 1)[1]
    listing = subprocess.run(
        [ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    # State, Recv-Q, Send-Q (the backlog of a listening socket), ...
    assert listing[0] == "LISTEN"
    assert int(listing[2]) == 1024


def test_no_answer_is_a_traceback(gateway):
    # Invalid UTF-8 and NULs in a path, a header and a body: clear answers only.
    for data in (
        b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /\xff\r\n"
        b"Cookie: gw_session=\xff\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
    ):
        with connect(gateway.public_url) as sock:
            sock.sendall(data)
            status = int(sock.recv(65536).split(b" ", 2)[1])
        assert status < 500, data
