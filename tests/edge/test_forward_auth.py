"""GET /auth/verify end to end: sessions, API keys, rules, redirects."""

from urllib.parse import parse_qs, urlsplit

from tests.edge.conftest import session_token


def verify(gateway, uri="/", method="GET", **headers):
    return gateway.public.get(
        "/auth/verify",
        headers={"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, **headers},
    )


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
    answer = gateway.public.get(
        "/auth/verify", headers={"X-Original-URI": "/x", "Accept": "text/html"}
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


def test_a_public_rule_needs_no_credential(gateway):
    assert verify(gateway, "/open/page").status_code == 200


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


def test_rules_match_the_path_the_proxy_will_serve(gateway, username):
    # nginx resolves /open/../trade before routing but sends the raw URI:
    # a public rule must not open the trading one.
    gateway.create_user(username)
    portal = {"Cookie": f"gw_session={session_token(gateway, username, platform='portal')}"}
    for sneaky in ("/open/../trade/x", "/open/%2e%2e/trade/x", "/open/./../trade", "//trade/x"):
        assert verify(gateway, sneaky).status_code == 401, sneaky
        assert verify(gateway, sneaky, **portal).status_code == 403, sneaky
    assert verify(gateway, "/trade/../open/x").status_code == 200
