from collections.abc import Iterator

import httpx
import pytest

from tests.edge.servers import Upstream
from tests.http.conftest import no_server_errors, own_gateway, username  # noqa: F401 (shared)
from tests.http.harness import TEST_CONFIG, GatewayProcess

TRUSTED_PROXY = "127.0.0.2"


def edge_config(upstream: str) -> str:
    return (
        TEST_CONFIG
        + f"""
[http]
trusted_proxies = ["{TRUSTED_PROXY}/32"]
header_timeout_seconds = 1
idle_timeout_seconds = 2
max_header_bytes = 4096
max_headers = 40

[[routes]]
prefix = "/app"
upstream = "{upstream}"
api_key_scope = "app"
websocket = true
timeout_seconds = 1

[[routes]]
prefix = "/trade"
upstream = "{upstream}/base"
session = "trading"
strip_prefix = true

[[routes]]
prefix = "/open"
upstream = "{upstream}"
public = true
max_body_bytes = 2000000000

[[routes]]
prefix = "/keep"
upstream = "{upstream}"
keep_credentials = true

[[routes]]
prefix = "/dead"
upstream = "http://127.0.0.1:1"

[forward_auth]
login_url = "https://login.example/login"

[[forward_auth.rules]]
prefix = "/"
session = "any"
api_key_scope = "app"

[[forward_auth.rules]]
prefix = "/trade"
session = "trading"

[[forward_auth.rules]]
prefix = "/portal-only"
session = "portal"

[[forward_auth.rules]]
prefix = "/open"
public = true

[[forward_auth.rules]]
prefix = "/keys-only"
session = "none"
api_key_scope = "reports"

[[forward_auth.rules]]
prefix = "/trade-keys"
session = "trading"
api_key_scope = "trade"
"""
    )


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("edge") / "data"
    process = GatewayProcess(data, edge_config(upstream.url)).start()
    yield process
    process.stop()


def login(gateway: GatewayProcess, user: str, platform: str = "tws") -> httpx.Response:
    """A user without a second factor: the password step opens the session."""
    answer = gateway.public.post(
        "/v1/login", json={"username": user, "password": "secret123", "platform": platform}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok"
    return answer


def session_token(gateway: GatewayProcess, user: str, platform: str = "tws") -> str:
    answer = login(gateway, user, platform)
    if platform == "portal":
        return answer.cookies["gw_session"]
    return str(answer.json()["token"])
