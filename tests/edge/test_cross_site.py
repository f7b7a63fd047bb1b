"""A page on another site cannot make a logged-in browser change state: a
cookie-authenticated request with any method but GET/HEAD/OPTIONS must come
from the gateway's own origin (Sec-Fetch-Site, else Origin). Bearer tokens
and API keys are not sent by browsers on their own and are not checked."""

import pytest

from tests.edge.conftest import session_token
from tests.edge.test_forward_auth import verify_raw

EVIL = {"Origin": "https://evil.example"}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}
SAME_SITE_SUBDOMAIN = {"Sec-Fetch-Site": "same-site"}


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"gw_session={token}"}


@pytest.mark.parametrize("forged", [EVIL, CROSS_SITE, SAME_SITE_SUBDOMAIN, {"Origin": "null"}])
def test_a_cross_site_logout_is_refused_and_the_session_lives(gateway, username, forged):
    gateway.create_user(username)
    token = session_token(gateway, username, platform="portal")
    answer = gateway.public.post("/v1/logout", headers={**cookie(token), **forged})
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    assert gateway.public.get("/v1/session", headers=cookie(token)).status_code == 200


def test_cross_site_state_changes_are_refused_on_every_plane(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username, platform="portal")
    refused = [
        gateway.public.post("/v1/session/tickle", headers={**cookie(token), **EVIL}),
        gateway.public.post("/v1/api-keys", headers={**cookie(token), **EVIL}, json={}),
        gateway.public.post("/app/orders", headers={**cookie(token), **CROSS_SITE}),
        verify_raw(
            gateway,
            {
                **cookie(token),
                **EVIL,
                "X-Forwarded-Method": "POST",
                "X-Forwarded-Uri": "/portal-only/transfer",
            },
        ),
    ]
    assert [a.status_code for a in refused] == [403] * 4
    assert {a.json()["error"] for a in refused} == {"forbidden"}


def test_same_origin_and_non_browser_requests_pass(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username, platform="portal")
    host = gateway.public_url.split("://", 1)[1]
    same_origin = {"Origin": f"https://{host}"}
    passed = [
        gateway.public.post("/v1/session/tickle", headers={**cookie(token), **same_origin}),
        gateway.public.post(
            "/v1/session/tickle", headers={**cookie(token), "Sec-Fetch-Site": "same-origin"}
        ),
        gateway.public.post("/v1/session/tickle", headers=cookie(token)),  # no browser
        # A bearer token is not attached by a browser: no origin check.
        gateway.public.post(
            "/v1/session/tickle", headers={"Authorization": f"Bearer {token}", **EVIL}
        ),
        # Reading is not changing: a cross-site GET is the browser's business.
        gateway.public.get("/v1/session", headers={**cookie(token), **EVIL}),
        verify_raw(
            gateway,
            {
                **cookie(token),
                "Origin": "https://app.example",
                "X-Forwarded-Host": "app.example",
                "X-Forwarded-Method": "POST",
                "X-Forwarded-Uri": "/portal-only/transfer",
            },
        ),
    ]
    assert [a.status_code for a in passed] == [200] * 6
    logout = gateway.public.post("/v1/logout", headers={**cookie(token), **same_origin})
    assert logout.status_code == 200


def test_a_client_cannot_name_its_own_host_to_pass(gateway, username):
    # X-Forwarded-Host is a trusted proxy's word; from a client it would let
    # a forged page match its own Origin.
    gateway.create_user(username)
    token = session_token(gateway, username, platform="portal")
    forged = {**cookie(token), **EVIL, "X-Forwarded-Host": "evil.example"}
    refused = [
        gateway.public.post("/app/orders", headers=forged),
        gateway.public.post("/v1/session/tickle", headers=forged),
        gateway.public.post("/v1/logout", headers=forged),
    ]
    assert [a.status_code for a in refused] == [403] * 3
    assert gateway.public.get("/v1/session", headers=cookie(token)).status_code == 200


def test_behind_a_trusted_proxy_its_forwarded_host_is_the_host(gateway, username):
    # One answer for every part of the edge: the proxy route, the tickle and
    # the control plane's logout all compare Origin with the trusted proxy's
    # X-Forwarded-Host; two different ones are refused.
    import httpx

    from tests.edge.conftest import TRUSTED_PROXY

    gateway.create_user(username)
    token = session_token(gateway, username, platform="portal")
    site = {**cookie(token), "Origin": "https://app.example", "X-Forwarded-Host": "app.example"}
    transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
    with httpx.Client(base_url=gateway.public_url, transport=transport) as proxy:
        assert proxy.post("/app/orders", headers=site).status_code == 200
        assert proxy.post("/v1/session/tickle", headers=site).status_code == 200
        two = proxy.post(
            "/app/orders",
            headers=[
                *cookie(token).items(),
                ("Origin", "https://app.example"),
                ("X-Forwarded-Host", "app.example"),
                ("X-Forwarded-Host", "evil.example"),
            ],
        )
        assert two.status_code == 400
        assert proxy.post("/v1/logout", headers=site).status_code == 200
