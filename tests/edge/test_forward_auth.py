"""GET /auth/verify end to end: sessions, API keys, rules, redirects, and
who may describe the request it decides on."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.edge.conftest import TRUSTED_PROXY, session_token


def as_proxy(gateway) -> httpx.Client:
    """A client calling from the configured trusted proxy's address."""
    return httpx.Client(
        base_url=gateway.public_url,
        transport=httpx.HTTPTransport(local_address=TRUSTED_PROXY),
    )


def verify_raw(gateway, headers):
    with as_proxy(gateway) as proxy:
        return proxy.get("/auth/verify", headers=headers)


def verify(gateway, uri="/", method="GET", **headers):
    return verify_raw(gateway, {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, **headers})


def test_a_live_session_is_allowed_with_identity_headers(gateway, username):
    gateway.create_user(username, account="ACC1")
    token = session_token(gateway, username)
    answer = verify(gateway, "/anything", Authorization=f"Bearer {token}")
    assert answer.status_code == 200
    assert answer.headers["x-auth-user"] == username
    assert answer.headers["x-auth-account"] == "ACC1"
    assert answer.headers["x-auth-platform"] == "tws"
    assert answer.headers["x-auth-method"] == "none"
    assert answer.headers["x-auth-limit-day"] == "50000"
    assert answer.headers["x-auth-limit-5d"] == "100000"
    session = gateway.public.get("/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert answer.headers["x-auth-session"] == session.json()["session"]["id"]
    assert token not in str(answer.headers)


def test_the_cookie_is_a_credential_too(gateway, username):
    gateway.create_user(username)
    cookie = session_token(gateway, username, platform="portal")
    answer = verify(gateway, "/", Cookie=f"theme=dark; gw_session={cookie}")
    assert answer.status_code == 200
    assert answer.headers["x-auth-platform"] == "portal"


def test_no_credential_is_401_for_api_clients(gateway):
    answer = verify(gateway, "/x", Accept="application/json")
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"


def test_browsers_behind_traefik_or_caddy_are_sent_to_the_login_page(gateway):
    answer = verify(
        gateway,
        "/reports?month=11",
        Accept="text/html,application/xhtml+xml",
        **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example"},
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "login.example", "/login")
    assert parse_qs(location.query)["rd"] == ["https://app.example/reports?month=11"]


def test_the_nginx_style_request_gets_401_even_for_browsers(gateway):
    # nginx auth_request only understands 2xx/401/403: its recipe maps 401.
    answer = verify_raw(
        gateway, {"X-Original-URI": "/x", "X-Original-Method": "GET", "Accept": "text/html"}
    )
    assert answer.status_code == 401


def test_rules_require_a_session_kind(gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    trading = session_token(gateway, username, platform="tws")
    as_portal = {"Cookie": f"gw_session={portal}"}
    as_trader = {"Authorization": f"Bearer {trading}"}
    refused = verify(gateway, "/trade/orders", **as_portal)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert verify(gateway, "/trade/orders", **as_trader).status_code == 200
    assert verify(gateway, "/portal-only/x", **as_trader).status_code == 403
    assert verify(gateway, "/portal-only/x", **as_portal).status_code == 200
    # Prefixes match whole segments: /trader is not /trade.
    assert verify(gateway, "/trader", **as_portal).status_code == 200


IDENTITY = (
    "x-auth-user",
    "x-auth-account",
    "x-auth-platform",
    "x-auth-method",
    "x-auth-session",
    "x-auth-key",
    "x-auth-limit-day",
    "x-auth-limit-5d",
)


def test_a_public_rule_needs_no_credential(gateway):
    answer = verify(gateway, "/open/page")
    assert answer.status_code == 200
    # Every identity header, empty: a proxy copying them invents nothing.
    assert [answer.headers.get(name) for name in IDENTITY] == [""] * 8


def test_a_stale_credential_passes_a_public_rule_as_anonymous(gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    gateway.public.post("/v1/logout", headers={"Cookie": f"gw_session={portal}"})
    cookie = {"Cookie": f"gw_session={portal}", "Accept": "text/html"}
    answer = verify(gateway, "/open/login", **cookie)
    assert answer.status_code == 200
    assert answer.headers["x-auth-user"] == ""
    # The same cookie is still refused where a session is needed.
    assert verify(gateway, "/x", **cookie).status_code == 302


def test_a_replaced_session_is_refused_with_session_replaced(gateway, username):
    gateway.create_user(username)
    first = session_token(gateway, username)
    answer = gateway.public.post(
        "/v1/login", json={"username": username, "password": "secret123", "platform": "desktop"}
    )
    assert answer.status_code == 409
    login_id = answer.json()["login_id"]
    assert gateway.public.post(f"/v1/login/{login_id}/confirm", json={"takeover": True}).is_success
    refused = verify(gateway, "/", Authorization=f"Bearer {first}")
    assert refused.status_code == 401
    assert refused.json()["error"] == "session_replaced"


def test_forward_auth_keeps_the_session_alive(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        gateway.advance(600)  # 10 of the 15 idle minutes, three times
        assert verify(gateway, "/", **auth).status_code == 200
    gateway.advance(901)
    assert verify(gateway, "/", **auth).json()["error"] == "session_expired"


def test_client_sent_identity_headers_do_not_count(gateway):
    answer = verify(gateway, "/x", **{"X-Auth-User": "admin", "X-Auth-Session": "forged"})
    assert answer.status_code == 401


SNEAKY_PATHS = [
    "/open/../trade/x",
    "/open/%2e%2e/trade/x",
    "/open/./../trade",
    "//trade/x",
    "/open/..;/trade/x",
    "/open;x/../trade",
    "/open%2f..%2ftrade",
    "/open/%252e%252e/trade",
    "/open\\..\\trade",
    "/open./x",
    "/trade/x%00",
]


def test_path_forms_servers_read_differently_are_refused(gateway, username):
    # nginx resolves /open/../trade before routing but passes the raw URI
    # on: a public rule must not open the trading one, in any spelling.
    gateway.create_user(username)
    portal = {"Cookie": f"gw_session={session_token(gateway, username, platform='portal')}"}
    for sneaky in SNEAKY_PATHS:
        for headers in ({}, portal):
            answer = verify(gateway, sneaky, **headers)
            assert answer.status_code == 400, (sneaky, answer.text)
            assert answer.json()["error"] == "bad_request"


def test_escaped_unreserved_characters_are_decided_on_decoded(gateway, username):
    gateway.create_user(username)
    portal = {"Cookie": f"gw_session={session_token(gateway, username, platform='portal')}"}
    # /%74rade is /trade to every server: the trading rule applies.
    assert verify(gateway, "/%74rade/x", **portal).status_code == 403
    assert verify(gateway, "/%74rade/x").status_code == 401
    # Case is not folded: /TRADE is not /trade (rules match as written).
    assert verify(gateway, "/TRADE/x", **portal).status_code == 200


def test_only_a_trusted_proxy_may_describe_the_request(gateway, username):
    # Straight from a client (not in trusted_proxies), the headers that name
    # the request would let it choose the rule it is judged by.
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    answer = gateway.public.get(
        "/auth/verify",
        headers={"X-Forwarded-Uri": "/open/x", "Cookie": f"gw_session={portal}"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"
    assert "x-auth-user" not in answer.headers


@pytest.mark.parametrize(
    "forged",
    [
        # nginx passes the client's own X-Forwarded-* to auth_request beside
        # the recipe's X-Original-*: two different answers are refused.
        {"X-Original-URI": "/trade/x", "X-Forwarded-Uri": "/open/x"},
        {"X-Original-URI": "/open/x", "X-Forwarded-Uri": "/trade/x"},
        {
            "X-Original-URI": "/trade/x",
            "X-Original-Method": "GET",
            "X-Forwarded-Uri": "/trade/x",
            "X-Forwarded-Method": "DELETE",
        },
    ],
)
def test_conflicting_descriptions_are_refused_not_resolved(gateway, forged):
    answer = verify_raw(gateway, forged)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"


def test_the_same_header_twice_with_two_values_is_refused(gateway):
    with as_proxy(gateway) as proxy:
        answer = proxy.get(
            "/auth/verify",
            headers=[("X-Forwarded-Uri", "/trade/x"), ("X-Forwarded-Uri", "/open/x")],
        )
    assert answer.status_code == 400


def test_a_get_only_key_cannot_delete_through_a_forged_method(gateway, username):
    gateway.create_user(username)
    created = gateway.admin.post(
        f"/admin/v1/users/{username}/api-keys",
        json={"name": "reader", "scopes": [{"route": "app", "methods": ["GET"]}]},
    ).json()
    key = {"X-API-Key": created["key"]}
    assert verify(gateway, "/x", "GET", **key).status_code == 200
    assert verify(gateway, "/x", "DELETE", **key).status_code == 403
    both = {"X-Original-Method": "DELETE", "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/x"}
    assert verify_raw(gateway, {**both, **key}).status_code == 400


def test_a_forward_auth_call_must_name_the_request(gateway, username):
    assert verify_raw(gateway, {"Accept": "application/json"}).status_code == 400
    # Without the method, the verify call's own GET would be judged: a
    # GET-only key would pass a POST.
    gateway.create_user(username)
    created = gateway.admin.post(
        f"/admin/v1/users/{username}/api-keys",
        json={"name": "reader", "scopes": [{"route": "app", "methods": ["GET"]}]},
    ).json()
    answer = verify_raw(gateway, {"X-Forwarded-Uri": "/x", "X-API-Key": created["key"]})
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"
