"""API keys: created from a session or by support, shown once, stored
hashed, scoped to routes and methods, rate-limited per key, revocable at once."""

import hashlib
import sqlite3

from tests.edge.conftest import edge_config, session_token
from tests.edge.test_forward_auth import verify
from tests.http.flows import start_login
from tests.http.test_recovery import code_to
from tests.http.test_recovery import finish as finish_recovery
from tests.http.test_recovery import start as start_recovery


def create_key(gateway, token, **body):
    body = {"name": "ci", "scopes": [{"route": "app"}], **body}
    return gateway.public.post(
        "/v1/api-keys", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def support_key(gateway, username, **body):
    body = {"name": "batch", "scopes": [{"route": "app"}], **body}
    return gateway.admin.post(f"/admin/v1/users/{username}/api-keys", json=body)


def keys_of(gateway, token):
    answer = gateway.public.get("/v1/api-keys", headers={"Authorization": f"Bearer {token}"})
    return answer.json()["keys"]


def assert_refused(answer, scope):
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "forbidden"
    assert repr(scope) in answer.json()["message"]


def test_a_key_from_a_session_is_shown_once_and_works(gateway, username):
    gateway.create_user(username, account="ACC7")
    token = session_token(gateway, username)
    created = create_key(gateway, token)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("gk_") and len(key) > 40
    listed = gateway.public.get("/v1/api-keys", headers={"Authorization": f"Bearer {token}"})
    assert [k["key_id"] for k in listed.json()["keys"]] == [created.json()["key_id"]]
    assert key not in listed.text
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        answer = verify(gateway, "/app/x", **headers)
        assert answer.status_code == 200
        assert answer.headers["x-auth-user"] == username
        assert answer.headers["x-auth-account"] == "ACC7"
        assert answer.headers["x-auth-platform"] == "api"
        assert answer.headers["x-auth-key"] == created.json()["key_id"]


def test_only_the_hash_is_stored(gateway, username):
    gateway.create_user(username)
    key = create_key(gateway, session_token(gateway, username)).json()["key"]
    database = sqlite3.connect(gateway.data_dir / "gateway.sqlite3")
    rows = b"".join(r[0] for r in database.execute("SELECT record FROM api_keys"))
    database.close()
    assert key.encode() not in rows
    assert hashlib.sha256(key.encode()).hexdigest().encode() in rows


def test_scopes_limit_routes_and_methods(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    key = support_key(gateway, username, scopes=[{"route": "reports", "methods": ["GET"]}]).json()[
        "key"
    ]
    auth = {"X-API-Key": key}
    assert verify(gateway, "/keys-only/r", "GET", **auth).status_code == 200
    refused = verify(gateway, "/keys-only/r", "POST", **auth)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert verify(gateway, "/app/x", "GET", **auth).status_code == 403
    # A session may not pass a keys-only rule.
    assert verify(gateway, "/keys-only/r", Authorization=f"Bearer {token}").status_code == 403


def test_revocation_takes_effect_at_once(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    created = create_key(gateway, token).json()
    assert verify(gateway, "/app", **{"X-API-Key": created["key"]}).status_code == 200
    revoked = gateway.public.delete(
        f"/v1/api-keys/{created['key_id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.json() == {"key_id": created["key_id"], "revoked": True}
    refused = verify(gateway, "/app", **{"X-API-Key": created["key"]})
    assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"


def test_support_creates_lists_and_revokes_keys(gateway, username):
    gateway.create_user(username)
    created = gateway.admin.post(
        f"/admin/v1/users/{username}/api-keys",
        json={"name": "batch", "scopes": [{"route": "app", "methods": ["GET", "POST"]}]},
    )
    assert created.status_code == 201
    assert created.json()["created_by"] == "support"
    listed = gateway.admin.get(f"/admin/v1/users/{username}/api-keys").json()["keys"]
    assert [k["name"] for k in listed] == ["batch"]
    key_id = created.json()["key_id"]
    assert gateway.admin.delete(f"/admin/v1/api-keys/{key_id}").status_code == 200
    assert verify(gateway, "/app", **{"X-API-Key": created.json()["key"]}).status_code == 401
    assert gateway.admin.delete(f"/admin/v1/api-keys/{key_id}").status_code == 404


def test_a_user_cannot_revoke_someone_elses_key(gateway, username):
    gateway.create_user(username)
    gateway.create_user(username + "b")
    mine = create_key(gateway, session_token(gateway, username)).json()
    other = session_token(gateway, username + "b")
    answer = gateway.public.delete(
        f"/v1/api-keys/{mine['key_id']}", headers={"Authorization": f"Bearer {other}"}
    )
    assert answer.status_code == 404
    assert verify(gateway, "/app", **{"X-API-Key": mine["key"]}).status_code == 200


def test_each_key_has_its_own_bucket(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    slow = create_key(gateway, token, name="slow", rate=0.001, burst=3).json()["key"]
    fast = create_key(gateway, token, name="fast").json()["key"]
    answers = [verify(gateway, "/app", **{"X-API-Key": slow}).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    limited = verify(gateway, "/app", **{"X-API-Key": slow})
    assert limited.json()["error"] == "rate_limited" and int(limited.headers["retry-after"]) > 0
    assert verify(gateway, "/app", **{"X-API-Key": fast}).status_code == 200


def test_bad_key_requests_are_refused_cleanly(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    for body in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": [{"route": "Bad Scope"}]},
        {"name": "x", "scopes": [{"route": "app", "methods": ["BREW"]}]},
        {"name": "", "scopes": [{"route": "app"}]},
        {"name": "x" * 1000, "scopes": [{"route": "app"}]},
        {"scopes": [{"route": "app"}]},
    ):
        answer = gateway.public.post(
            "/v1/api-keys", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "bad_request"
    assert gateway.public.post("/v1/api-keys", json={"name": "x", "scopes": []}).status_code == 401
    for garbage in (b"gk_", b"gk_" + b"x" * 400, "gk_\u00e9".encode()):
        assert verify(gateway, "/app", Authorization=b"Bearer " + garbage).status_code == 401


def test_keys_survive_a_restart(own_gateway, upstream, username):
    own_gateway.config_path.write_text(edge_config(upstream.url))
    own_gateway.start()
    own_gateway.create_user(username)
    key = create_key(own_gateway, session_token(own_gateway, username)).json()["key"]
    own_gateway.restart()
    assert verify(own_gateway, "/app", **{"X-API-Key": key}).status_code == 200


def test_a_session_grants_only_scopes_its_own_kind_could_use(gateway, username):
    gateway.create_user(username)
    portal = session_token(gateway, username, platform="portal")
    cookie = {"Cookie": f"gw_session={portal}"}
    trade = {"name": "bot", "scopes": [{"route": "trade", "methods": ["GET"]}]}
    refused = gateway.public.post("/v1/api-keys", json=trade, headers=cookie)
    assert_refused(refused, "trade")
    # One scope out of reach refuses the whole key.
    both = {"name": "bot", "scopes": [{"route": "app"}, {"route": "trade"}]}
    assert_refused(gateway.public.post("/v1/api-keys", json=both, headers=cookie), "trade")
    assert gateway.public.get("/v1/api-keys", headers=cookie).json()["keys"] == []
    # A trading session could pass /trade-keys itself, so it may grant "trade".
    tws = session_token(gateway, username, platform="tws")
    created = create_key(gateway, tws, **trade)
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert verify(gateway, "/trade-keys/orders", **key).status_code == 200
    # And a portal session may grant "app" (route and rule: session = "any").
    app = {"name": "bot", "scopes": [{"route": "app"}]}
    assert gateway.public.post("/v1/api-keys", json=app, headers=cookie).status_code == 201


def test_no_session_grants_a_keys_only_scope_but_support_does(gateway, username):
    gateway.create_user(username)
    reports = {"scopes": [{"route": "reports", "methods": ["GET"]}]}
    for platform in ("tws", "portal"):
        token = session_token(gateway, username, platform=platform)
        assert_refused(create_key(gateway, token, **reports), "reports")
    granted = support_key(gateway, username, **reports)
    assert granted.status_code == 201, granted.text
    assert (
        verify(gateway, "/keys-only/r", **{"X-API-Key": granted.json()["key"]}).status_code == 200
    )


def test_a_scope_no_route_or_rule_names_is_refused(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    nowhere = {"scopes": [{"route": "nowhere"}]}
    assert_refused(create_key(gateway, token, **nowhere), "nowhere")
    assert_refused(support_key(gateway, username, **nowhere), "nowhere")
    assert keys_of(gateway, token) == []


def test_a_session_asks_no_more_than_the_default_rate_and_burst(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    for asked in ({"rate": 10.5}, {"burst": 101}, {"rate": 1000, "burst": 100000}):
        refused = create_key(gateway, token, **asked)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden", asked
    assert keys_of(gateway, token) == []
    at_most = create_key(gateway, token, rate=10, burst=100)
    assert at_most.status_code == 201, at_most.text
    generous = support_key(gateway, username, rate=1000, burst=100000)
    assert generous.status_code == 201, generous.text
    assert (generous.json()["rate"], generous.json()["burst"]) == (1000, 100000)


def test_a_session_opened_by_a_temporary_passcode_grants_nothing(gateway, username):
    gateway.create_user(username)
    gateway.enrol_totp(username)
    passcode = gateway.admin.post(f"/admin/v1/users/{username}/temporary-passcode").json()
    login = start_login(gateway, username).json()
    assert "temp_passcode" in login["methods"], login
    opened = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode["passcode"]},
    )
    assert opened.status_code == 200, opened.text
    # Full access for two days, yet the key would outlive the passcode.
    token = opened.json()["token"]
    assert verify(gateway, "/trade/x", Authorization=f"Bearer {token}").status_code == 200
    refused = create_key(gateway, token)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert keys_of(gateway, token) == []


def test_lower_case_methods_are_a_bad_request(gateway, username):
    gateway.create_user(username)
    token = session_token(gateway, username)
    answer = create_key(gateway, token, scopes=[{"route": "app", "methods": ["get"]}])
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_a_password_reset_revokes_every_key_at_once(gateway, username):
    email = f"{username}@example.com"
    gateway.create_user(username, email=email)
    token = session_token(gateway, username)
    mine = create_key(gateway, token).json()
    support = support_key(gateway, username, scopes=[{"route": "reports"}]).json()
    assert verify(gateway, "/app/x", **{"X-API-Key": mine["key"]}).status_code == 200
    assert verify(gateway, "/keys-only/r", **{"X-API-Key": support["key"]}).status_code == 200
    # Someone else's key is not touched.
    gateway.create_user(username + "b")
    other = support_key(gateway, username + "b").json()
    recovery_id = start_recovery(gateway, username).json()["recovery_id"]
    done = finish_recovery(gateway, recovery_id, code_to(gateway, email)["code"])
    assert done.status_code == 200, done.text
    assert done.json() == {"reset": True, "api_keys_revoked": 2}
    for key, uri in ((mine["key"], "/app/x"), (support["key"], "/keys-only/r")):
        refused = verify(gateway, uri, **{"X-API-Key": key})
        assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
    proxied = gateway.public.get("/app/x", headers={"X-API-Key": mine["key"]})
    assert proxied.status_code == 401
    assert gateway.admin.get(f"/admin/v1/users/{username}/api-keys").json() == {"keys": []}
    assert verify(gateway, "/app/x", **{"X-API-Key": other["key"]}).status_code == 200
