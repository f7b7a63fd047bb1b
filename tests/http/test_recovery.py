"""Recovery over HTTP: a forgotten password (the same answer for known and
unknown names, a code through the notifier, the IB Key's approval when one
is active, sessions ended) and a forgotten username."""

from tests.http.flows import bearer, start_login
from tests.http.test_ibkey import approvals, decide, user_with_ibkey


def start(gateway, username):
    return gateway.public.post("/v1/recovery/password", json={"username": username})


def code_to(gateway, to):
    return gateway.admin.get("/admin/v1/outbox", params={"to": to}).json()["messages"][-1]


def finish(gateway, recovery_id, code, new_password="newpass123"):
    return gateway.public.post(
        f"/v1/recovery/password/{recovery_id}", json={"code": code, "new_password": new_password}
    )


def test_a_password_reset_end_to_end(gateway, username):
    email = f"{username}@example.com"
    gateway.create_user(username, email=email)
    token = start_login(gateway, username).json()["token"]
    started = start(gateway, username)
    assert started.status_code == 202
    message = code_to(gateway, email)
    assert message["channel"] == "email" and message["code"] in message["text"]
    weak = finish(gateway, started.json()["recovery_id"], message["code"], "short")
    assert weak.status_code == 400
    done = finish(gateway, started.json()["recovery_id"], message["code"])
    assert done.status_code == 200, done.text
    assert done.json() == {"reset": True, "api_keys_revoked": 0}
    # The reset ended the sessions; the new password works, the old one not.
    assert gateway.public.get("/v1/session", headers=bearer(token)).status_code == 401
    assert start_login(gateway, username, password="newpass123").status_code == 200
    assert start_login(gateway, username).json()["error"] == "invalid_credentials"
    # A code is good once.
    again = finish(gateway, started.json()["recovery_id"], message["code"])
    assert again.status_code == 404


def test_known_and_unknown_names_get_the_same_answer(gateway, username):
    gateway.create_user(username, email=f"{username}@example.com")
    known, unknown = start(gateway, username), start(gateway, "nosuchuser99")
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    assert len(known.json()["recovery_id"]) == len(unknown.json()["recovery_id"])
    # A code guessed for a name nobody has fails like a wrong one.
    assert finish(gateway, unknown.json()["recovery_id"], "123456").json()["error"] == (
        "login_failed"
    )


def test_wrong_codes_count_and_end_the_recovery(gateway, username):
    email = f"{username}@example.com"
    gateway.create_user(username, email=email)
    recovery_id = start(gateway, username).json()["recovery_id"]
    code = code_to(gateway, email)["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        assert finish(gateway, recovery_id, wrong).json()["error"] == "login_failed"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 3
    assert finish(gateway, recovery_id, code).status_code == 404


def test_a_code_expires(gateway, username):
    email = f"{username}@example.com"
    gateway.create_user(username, email=email)
    recovery_id = start(gateway, username).json()["recovery_id"]
    code = code_to(gateway, email)["code"]
    gateway.advance(901)
    assert finish(gateway, recovery_id, code).status_code == 404


def test_with_an_ib_key_the_phone_approves_first(gateway, username):
    phone = user_with_ibkey(gateway, username)
    info = gateway.admin.get(f"/admin/v1/users/{username}").json()
    recovery_id = start(gateway, username).json()["recovery_id"]
    code = code_to(gateway, info["phone"])["code"]
    waiting = finish(gateway, recovery_id, code)
    assert waiting.status_code == 403 and "approve" in waiting.json()["message"]
    (approval,) = approvals(gateway, phone).json()["approvals"]
    assert approval["platform"] == "password-reset"
    decide(gateway, phone, approval, "approve")
    assert finish(gateway, recovery_id, code).status_code == 200


def test_a_forgotten_username_goes_to_the_email(gateway, username):
    email = f"{username}@example.com"
    gateway.create_user(username, email=email)
    known = gateway.public.post("/v1/recovery/username", json={"email": email})
    unknown = gateway.public.post("/v1/recovery/username", json={"email": "no@example.com"})
    garbage = gateway.public.post("/v1/recovery/username", json={"email": "not an email"})
    assert known.status_code == unknown.status_code == garbage.status_code == 202
    assert known.json() == unknown.json() == garbage.json()
    assert username in code_to(gateway, email)["text"]
    assert gateway.admin.get("/admin/v1/outbox", params={"to": "no@example.com"}).json() == {
        "messages": []
    }
