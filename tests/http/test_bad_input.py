"""Every kind of bad input gets a SPEC error code: never a 500, never a traceback."""

import json

import httpx
import pytest

from tests.http.flows import start_login
from tests.http.harness import ADMIN_TOKEN

BAD_BODIES = [
    b"",
    b"not json",
    b"[]",
    b"null",
    b'{"username": 1, "password": "x"}',
    b'{"username": "alice"}',
    b'{"username": "alice", "password": "secret123", "extra": 1}',
    b'{"username": "alice", "password": "secret123", "platform": "fax"}',
    b'{"username": "' + b"a" * 100 + b'", "password": "secret123"}',
    b'{"username": "alice", "password": "' + b"p" * 2000 + b'"}',
    b'{"username": "alice", "password": "secret123"' + b" " * 10 + b"",
    json.dumps({"username": ["alice"] * 1000, "password": "x"}).encode(),
    b'{"username": "\\ud800", "password": "secret123"}',
]


@pytest.mark.parametrize("raw", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_login_bodies(gateway, raw):
    answer = gateway.public.post(
        "/v1/login", content=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] in ("bad_request", "bad_character")
    assert "Traceback" not in answer.text


def test_field_path_is_reported(gateway):
    answer = gateway.public.post("/v1/login", json={"username": 5, "password": "x"})
    assert answer.json()["error"] == "bad_request"
    assert "$.username" in answer.json()["message"]


def test_oversized_body_is_refused(gateway):
    huge = b'{"username": "alice", "password": "' + b"x" * 200_000 + b'"}'
    answer = gateway.public.post(
        "/v1/login", content=huge, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "bad_request"


def test_form_posts_are_refused(gateway):
    answer = gateway.public.post("/v1/login", data={"username": "alice", "password": "x"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"


def test_unknown_path_and_method(gateway):
    assert gateway.public.get("/v2/nothing").json()["error"] == "not_found"
    answer = gateway.public.put("/v1/login", json={})
    assert answer.status_code == 405
    assert answer.json()["error"] == "bad_request"


def test_repeated_field_is_refused_or_last_wins(gateway, username):
    gateway.create_user(username)
    raw = b'{"username": "%s", "username": "%s", "password": "secret123", "platform": "api"}' % (
        username.encode(),
        username.encode(),
    )
    answer = gateway.public.post(
        "/v1/login", content=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 401)
    assert answer.json()["error"] in ("bad_request", "invalid_credentials")


def test_admin_needs_its_token(gateway):
    with httpx.Client(base_url=gateway.admin_url) as anonymous:
        answer = anonymous.post("/admin/v1/users", json={"username": "x", "password": "y"})
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthenticated"
        wrong = anonymous.get("/admin/v1/sessions", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 403
        assert wrong.json()["error"] == "forbidden"
        other_scheme = {"Authorization": f"Basic {ADMIN_TOKEN}"}
        assert anonymous.get("/admin/v1/sessions", headers=other_scheme).status_code == 403
        # RFC 9110 11.1: the scheme is case-insensitive.
        lower = anonymous.get(
            "/admin/v1/sessions", headers={"Authorization": f"bearer {ADMIN_TOKEN}"}
        )
        assert lower.status_code == 200


def test_admin_user_validation(gateway):
    weak = gateway.admin.post("/admin/v1/users", json={"username": "weakpw", "password": "abc"})
    assert weak.status_code == 400 and weak.json()["error"] == "bad_request"
    bad = gateway.admin.post("/admin/v1/users", json={"username": "Bad", "password": "secret1"})
    assert bad.json()["error"] == "bad_character"
    gateway.create_user("twice")
    again = gateway.admin.post("/admin/v1/users", json={"username": "twice", "password": "abc123"})
    assert again.status_code == 409 and again.json()["error"] == "bad_request"
    missing = gateway.admin.post("/admin/v1/users/nobody/devices", json={"type": "totp"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    kind = gateway.admin.post("/admin/v1/users/twice/devices", json={"type": "pager"})
    assert kind.status_code == 400


def test_openapi_document_is_served(gateway):
    document = gateway.public.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v1/login" in document["paths"]
    assert "LoginRequest" in document["components"]["schemas"]


def test_login_still_works_after_the_abuse(gateway, username):
    gateway.create_user(username)
    assert start_login(gateway, username).status_code == 200


def test_bodies_the_handler_does_not_need_do_not_stall_the_connection(gateway):
    # Answering with a request body left unread could stall the next request
    # on the same keep-alive connection; every answer must come back.
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=gateway.public_url, timeout=5) as client:
        for size in range(1, 400, 7):
            junk = bytes(range(256)) * 2
            assert (
                client.post("/v1/logout", content=junk[:size], headers=headers).status_code == 401
            )
            assert client.post("/v1/login/x/challenge", content=junk[:size], headers=headers)
            assert client.post("/v1/session/tickle", content=junk[:size], headers=headers)
        huge = b"x" * 300_000
        # Past the body limit: refused before it is read, and the connection closes.
        answer = client.post("/v1/session/tickle", content=huge, headers=headers)
        assert answer.status_code == 413
        assert answer.headers["connection"] == "close"
    with httpx.Client(base_url=gateway.public_url, timeout=5) as client:
        assert client.get("/v1/session").status_code == 401


def test_invalid_utf8_inside_a_json_string_is_bad_request(gateway):
    for body in (b'{"username": "\xff\xfe", "password": "x"}', b'{"username": "a\x80"}'):
        answer = gateway.public.post(
            "/v1/login", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("email", "a@b"),
        ("email", "two@@example.com"),
        ("email", "spaced name@example.com"),
        ("email", "ünï@example.com"),
        ("email", "x@" + "a" * 250 + ".com"),
        ("email", ""),
        ("phone", "12345"),
        ("phone", "+0123456789"),
        ("phone", "+1 555 CALL NOW"),
        ("phone", "+1555010099999999"),
        ("phone", ""),
    ],
)
def test_contacts_are_validated_and_nothing_is_stored(gateway, field, value):
    answer = gateway.admin.post(
        "/admin/v1/users", json={"username": "contact1", "password": "secret123", field: value}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_request" and field in answer.json()["message"]
    assert gateway.admin.get("/admin/v1/users/contact1").status_code == 404


def test_contacts_are_stored_in_canonical_form(gateway):
    answer = gateway.admin.post(
        "/admin/v1/users",
        json={
            "username": "contact2",
            "password": "secret123",
            "email": "Jo.Smith@Example.COM",
            "phone": "+1 (555) 010-0123",
        },
    )
    assert answer.status_code == 201, answer.text
    user = gateway.admin.get("/admin/v1/users/contact2").json()
    assert (user["email"], user["phone"]) == ("Jo.Smith@example.com", "+15550100123")
