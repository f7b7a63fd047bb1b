"""The documented nginx and Caddy forward-auth recipes, run for real: Debian's
nginx and Caddy start with docs/forward-auth/* (addresses swapped for
loopback ports) in front of the upstream app, and the gateway decides; then
a client forges every header the gateway reads, and every path form."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bench.load.servers import nginx_main

from tests.edge.conftest import TRUSTED_PROXY, edge_config, session_token
from tests.edge.rawhttp import Responses, connect
from tests.edge.servers import REPO, binary, free_port, stop, wait_until_serving
from tests.edge.test_forward_auth import SNEAKY_PATHS
from tests.http.harness import GatewayProcess

RECIPES = REPO / "docs" / "forward-auth"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream) -> Iterator[GatewayProcess]:
    """The gateway as the recipes configure it: nginx and Caddy, on this
    machine, are its trusted proxies."""
    config = edge_config(upstream.url).replace(f"{TRUSTED_PROXY}/32", "127.0.0.1/32")
    process = GatewayProcess(tmp_path_factory.mktemp("recipes") / "data", config).start()
    yield process
    process.stop()


def localise(text: str, gateway, upstream, port: int) -> str:
    gateway_address = gateway.public_url.removeprefix("http://")
    return (
        text.replace("127.0.0.1:8080", gateway_address)
        .replace("127.0.0.1:9000", upstream.url.removeprefix("http://"))
        .replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        .replace(":8000 {", f"http://127.0.0.1:{port} {{")
    )


@pytest.fixture(scope="module")
def nginx(gateway, upstream, tmp_path_factory) -> Iterator[str]:
    executable = binary("nginx")
    workdir = tmp_path_factory.mktemp("nginx")
    port = free_port()
    recipe = localise((RECIPES / "nginx.conf").read_text(), gateway, upstream, port)
    config = workdir / "nginx.conf"
    config.write_text(nginx_main(workdir, recipe))
    process = subprocess.Popen(
        [executable, "-p", str(workdir), "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, "nginx")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def caddy(gateway, upstream, tmp_path_factory) -> Iterator[str]:
    executable = binary("caddy")
    workdir = tmp_path_factory.mktemp("caddy")
    port = free_port()
    recipe = localise((RECIPES / "Caddyfile").read_text(), gateway, upstream, port)
    config = workdir / "Caddyfile"
    config.write_text("{\n\tadmin off\n\tauto_https off\n}\n\n" + recipe)
    env = {
        **os.environ,
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
    }
    process = subprocess.Popen(
        [executable, "run", "--config", str(config), "--adapter", "caddyfile"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, "caddy")
    yield url
    stop(process)


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request) -> str:
    return str(request.getfixturevalue(request.param))


def upstream_headers(answer: httpx.Response) -> dict[str, list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("x-upstream") == "yes", "the answer did not come from the app"
    found: dict[str, list[str]] = {}
    for name, value in answer.json()["headers"]:
        found.setdefault(name, []).append(value)
    return found


def test_a_session_reaches_the_app_with_its_identity(proxy, gateway, username):
    gateway.create_user(username, account="ACC3")
    token = session_token(gateway, username)
    answer = httpx.get(proxy + "/reports", headers={"Authorization": f"Bearer {token}"})
    headers = upstream_headers(answer)
    assert headers["x-auth-user"] == [username]
    assert headers["x-auth-account"] == ["ACC3"]
    assert headers["x-auth-platform"] == ["tws"]
    session = gateway.public.get("/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert headers["x-auth-session"] == [session.json()["session"]["id"]]
    assert headers["x-auth-limit-day"] == ["50000"]


def test_client_sent_identity_headers_are_removed(proxy, gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = httpx.get(
        proxy + "/x",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Auth-User": "root",
            "X-Auth-Key": "forged",
            "X-Auth-Limit-Day": "unlimited",
        },
    )
    headers = upstream_headers(answer)
    assert headers["x-auth-user"] == [username]
    # nginx leaves the header out, Caddy 2.6 sends it empty: the forged value is gone.
    assert headers.get("x-auth-key", [""]) == [""]
    assert headers["x-auth-limit-day"] == ["50000"]


def test_without_a_session_api_clients_get_401_and_the_app_sees_nothing(proxy):
    answer = httpx.get(proxy + "/x", headers={"Accept": "application/json", "X-Auth-User": "root"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"
    assert "x-upstream" not in answer.headers


def test_without_a_session_browsers_are_sent_to_the_login_page(proxy):
    answer = httpx.get(proxy + "/reports?m=11", headers={"Accept": "text/html"})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert location.path == "/login"
    back = urlsplit(parse_qs(location.query)["rd"][0])
    assert back.path == "/reports" and back.query == "m=11"


def test_a_rule_refuses_the_wrong_session_kind(proxy, gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    answer = httpx.get(proxy + "/trade/x", headers={"Cookie": f"gw_session={portal}"})
    assert answer.status_code == 403
    assert "x-upstream" not in answer.headers


def test_an_api_key_passes_with_its_identity(proxy, gateway, username):
    gateway.create_user(username)
    created = gateway.admin.post(
        f"/admin/v1/users/{username}/api-keys",
        json={"name": "bot", "scopes": [{"route": "app"}]},
    ).json()
    headers = upstream_headers(httpx.get(proxy + "/x", headers={"X-API-Key": created["key"]}))
    assert headers["x-auth-platform"] == ["api"]
    assert headers["x-auth-key"] == [created["key_id"]]


def raw(proxy: str, request_line: str, headers: list[tuple[str, str]]):
    """A request sent byte for byte as written (httpx would tidy the path)."""
    host = proxy.removeprefix("http://")
    lines = [request_line, f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    with connect(proxy) as sock:
        sock.sendall(("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1"))
        return Responses(sock).read()[0]


def test_forged_descriptions_of_the_request_change_nothing(proxy, gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    for forged in ("X-Forwarded-Uri", "X-Original-URI"):
        # No credential: the app is not reached whatever the client names.
        status, headers, _ = raw(proxy, "GET /secret HTTP/1.1", [(forged, "/open/x")])
        assert status in (400, 401), (forged, status)
        assert b"x-upstream" not in headers
        # A portal session asking for the trading path stays refused.
        status, headers, body = raw(
            proxy,
            "GET /trade/x HTTP/1.1",
            [(forged, "/open/x"), ("Cookie", f"gw_session={portal}")],
        )
        assert status in (400, 403), (forged, status)
        assert b"x-upstream" not in headers
        assert body.startswith(b"{"), body  # JSON for API clients, nginx too


def test_a_forged_method_does_not_widen_an_api_key(proxy, gateway, username):
    gateway.create_user(username)
    created = gateway.admin.post(
        f"/admin/v1/users/{username}/api-keys",
        json={"name": "reader", "scopes": [{"route": "app", "methods": ["GET"]}]},
    ).json()
    key = ("X-API-Key", created["key"])
    status, headers, _ = raw(proxy, "GET /x HTTP/1.1", [key])
    assert status == 200 and headers[b"x-upstream"] == b"yes"
    for forged in ("X-Forwarded-Method", "X-Original-Method"):
        status, headers, body = raw(proxy, "DELETE /x HTTP/1.1", [key, (forged, "GET")])
        assert status in (400, 403), (forged, status)
        assert b"x-upstream" not in headers
        assert body.startswith(b"{")


def test_every_path_form_is_refused_before_the_app(proxy):
    for sneaky in SNEAKY_PATHS:
        status, headers, _ = raw(proxy, f"GET {sneaky} HTTP/1.1", [])
        assert status == 400, (sneaky, status)
        assert b"x-upstream" not in headers


def test_refusals_reach_api_clients_as_json(proxy, gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    forbidden = httpx.get(proxy + "/trade/x", headers={"Cookie": f"gw_session={portal}"})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "forbidden"
    status, _, body = raw(proxy, "GET /open/..;/trade HTTP/1.1", [])
    assert status == 400
    assert httpx.Response(status, content=body).json()["error"] == "bad_request"


def test_the_gateway_credential_does_not_reach_the_app(proxy, gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    portal = session_token(gateway, username, platform="portal")
    created = gateway.admin.post(
        f"/admin/v1/users/{username}/api-keys",
        json={"name": "bot", "scopes": [{"route": "app"}]},
    ).json()
    seen = upstream_headers(
        httpx.get(
            proxy + "/x",
            headers={
                "Authorization": f"Bearer {token}",
                "Cookie": f"a=1; gw_session={portal}; b=2",
            },
        )
    )
    assert "authorization" not in seen
    assert [c.replace(" ", "").replace(";;", ";") for c in seen["cookie"]] == ["a=1;b=2"]
    # Copies of the session cookie (cookie tossing) never reach the app.
    for cookies in (
        f"x=1; gw_session={portal}; gw_session={portal}",
        "; ".join([f"gw_session={portal}"] * 3),
    ):
        answer = httpx.get(
            proxy + "/x", headers={"Authorization": f"Bearer {token}", "Cookie": cookies}
        )
        if answer.status_code == 200:
            assert portal not in json.dumps(upstream_headers(answer))
        else:
            assert answer.status_code == 400 and "x-upstream" not in answer.headers
    assert token not in str(seen) and portal not in str(seen)
    seen = upstream_headers(httpx.get(proxy + "/x", headers={"X-API-Key": created["key"]}))
    assert "x-api-key" not in seen
    assert created["key"] not in str(seen)
    # Another scheme is the app's own business: it goes on.
    seen = upstream_headers(
        httpx.get(
            proxy + "/x", headers={"X-API-Key": created["key"], "Authorization": "Basic eDp5"}
        )
    )
    assert seen["authorization"] == ["Basic eDp5"]


def test_underscore_and_forwarded_headers_are_not_believed(proxy, gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = httpx.get(
        proxy + "/x",
        headers={
            "Authorization": f"Bearer {token}",
            "X_Auth_User": "root",
            "X-Auth_Limit_Day": "unlimited",
            "X_Forwarded_For": "203.0.113.1",
            "Forwarded": "for=203.0.113.2",
            "X-Forwarded-For": "203.0.113.3",
            "X-Real-IP": "203.0.113.4",
            "True-Client-IP": "203.0.113.5",
        },
    )
    seen = upstream_headers(answer)
    assert "203.0.113.4" not in str(seen) and "203.0.113.5" not in str(seen)
    assert not [name for name in seen if "_" in name], seen
    assert seen["x-auth-user"] == [username]
    assert "forwarded" not in seen
    assert "203.0.113.3" not in seen["x-forwarded-for"][0].split(",")[-1]


def test_a_forged_forwarded_host_does_not_pass_the_cross_site_check(proxy, gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    status, headers, _ = raw(
        proxy,
        "POST /x HTTP/1.1",
        [
            ("Cookie", f"gw_session={portal}"),
            ("Origin", "https://evil.example"),
            ("X-Forwarded-Host", "evil.example"),
            ("Content-Length", "0"),
        ],
    )
    assert status == 403
    assert b"x-upstream" not in headers


def test_a_same_origin_post_on_a_port_passes_the_cross_site_check(proxy, gateway, username):
    # The host the proxy reports keeps its port, as the browser's Origin does.
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    host = proxy.removeprefix("http://")
    status, headers, _ = raw(
        proxy,
        "POST /x HTTP/1.1",
        [("Cookie", f"gw_session={portal}"), ("Origin", f"http://{host}"), ("Content-Length", "0")],
    )
    assert status == 200 and headers[b"x-upstream"] == b"yes"
