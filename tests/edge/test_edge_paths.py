"""Every part of the edge decides on one path, the upstream gets exactly
that path, and forms servers read differently are refused the same way
everywhere (reverse proxy, the gateway's own endpoints, the relay to the
control plane, login admission). Forward auth: test_forward_auth.py."""

import httpx
import pytest

from tests.edge.conftest import session_token
from tests.edge.rawhttp import Responses, connect
from tests.edge.test_forward_auth import SNEAKY_PATHS


def raw_get(gateway, target: str, headers: str = "") -> tuple[int, dict[bytes, bytes], bytes]:
    """A request whose target goes on the wire exactly as written."""
    with connect(gateway.public_url) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: gw\r\n{headers}Connection: close\r\n\r\n".encode(
                "latin-1"
            )
        )
        return Responses(sock).read()[0]


def test_every_ambiguous_form_is_refused_by_the_proxy(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username, platform="tws")
    for sneaky in SNEAKY_PATHS:
        for target in (sneaky, sneaky.replace("/open", "/app", 1)):
            for auth in ("", f"Authorization: Bearer {token}\r\n"):
                status, headers, body = raw_get(gateway, target, auth)
                assert status == 400, (target, body)
                assert b"x-upstream" not in headers
                assert b'"bad_request"' in body


@pytest.mark.parametrize(
    "target",
    [
        "/app/%2561",
        "/app/admin%2f",
        "/app%2fx",
        "/v1/session;x",
        "/v1/%73ession/.",
        "/healthz/.",
        "//healthz",
        "/auth/verify;x",
    ],
)
def test_the_gateway_own_endpoints_refuse_them_too(gateway, target):
    status, _, body = raw_get(gateway, target)
    assert status == 400, (target, body)
    assert b'"bad_request"' in body


def test_the_upstream_receives_the_path_that_was_decided_on(gateway):
    status, headers, body = raw_get(gateway, "/op%65n/%61dmin/%7euser?q=%2f..")
    assert status == 200, body
    assert headers[b"x-upstream"] == b"yes"
    view = httpx.Response(200, content=body).json()
    assert view["raw_path"] == "/open/admin/~user"
    assert view["query"] == "q=%2f.."


def test_an_escaped_route_prefix_is_the_route(gateway, username):
    # /%74rade is /trade: the trading-only route's rule, not the catch-all.
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    status, headers, _ = raw_get(gateway, "/%74rade/x", f"Cookie: gw_session={portal}\r\n")
    assert status == 403
    assert b"x-upstream" not in headers


def admitted(gateway) -> float:
    for line in gateway.admin.get("/metrics").text.splitlines():
        if line.startswith('gateway_login_admitted_total{lane="password"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_escaped_login_paths_log_in_through_admission(gateway, username):
    # Admission classifies on the decided path: /v1/%6cogin is a password
    # step like /v1/login, and //v1/login is refused before the relay.
    gateway.create_user(username)
    body = f'{{"username": "{username}", "password": "secret123", "platform": "portal"}}'
    for target, expected in (("/v1/%6cogin", 200), ("//v1/login", 400), ("/v1/login;x", 400)):
        before = admitted(gateway)
        with connect(gateway.public_url) as sock:
            sock.sendall(
                (
                    f"POST {target} HTTP/1.1\r\nHost: gw\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
                ).encode()
            )
            status, _, answer = Responses(sock).read()[0]
        assert status == expected, (target, answer)
        assert admitted(gateway) == before + (1 if status == 200 else 0), target
