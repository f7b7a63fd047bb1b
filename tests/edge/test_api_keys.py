"""API keys: created from a session or by support, shown once, stored
hashed, scoped to routes and methods, rate-limited per key, revocable at once."""

import hashlib
import sqlite3

from tests.edge.conftest import edge_config, session_token
from tests.edge.test_forward_auth import verify


def create_key(gateway, token, **body):
    body = {"name": "ci", "scopes": [{"route": "app"}], **body}
    return gateway.public.post(
        "/v1/api-keys", json=body, headers={"Authorization": f"Bearer {token}"}
    )


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
    key = create_key(gateway, token, scopes=[{"route": "reports", "methods": ["GET"]}]).json()[
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
    answer = own_gateway.public.get("/auth/verify", headers={"X-API-Key": key})
    assert answer.status_code == 200
