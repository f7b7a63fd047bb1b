"""The documented nginx and Caddy forward-auth recipes, run for real: Debian's
nginx and Caddy start with docs/forward-auth/* (addresses swapped for
loopback ports) in front of the upstream app, and the gateway decides."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bench.load.servers import nginx_main

from tests.edge.conftest import session_token
from tests.edge.servers import REPO, binary, free_port, stop, wait_until_serving

RECIPES = REPO / "docs" / "forward-auth"


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
