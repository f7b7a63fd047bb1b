"""A user changes their own e-mail from a session: a code to the old
address (single use, 15 minutes on the test clock, three wrong ones end it,
each counted toward the lockout), or the current password (checked like a
login); the old address is told either way."""

import json

from tests.http.flows import bearer, start_login

OLD = "{}@old.example"
NEW = "{}@new.example"


def outbox(gateway, to):
    return gateway.admin.get("/admin/v1/outbox", params={"to": to}).json()["messages"]


def user_with_email(gateway, username):
    gateway.create_user(username, email=OLD.format(username))
    return start_login(gateway, username).json()["token"]


def ask(gateway, token, **body):
    return gateway.public.post("/v1/account/email", json=body, headers=bearer(token))


def confirm(gateway, token, code):
    return gateway.public.post(
        "/v1/account/email/confirm", json={"code": code}, headers=bearer(token)
    )


def email_on_record(gateway, username):
    return gateway.admin.get(f"/admin/v1/users/{username}").json()["email"]


def failures(gateway, username):
    return gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"]


def test_a_code_to_the_old_address_changes_it_once(gateway, username):
    token = user_with_email(gateway, username)
    start = len(gateway.output)
    asked = ask(gateway, token, new_email=NEW.format(username))
    assert asked.status_code == 202, asked.text
    assert asked.json() == {"sent": "email", "expires_in": 900}
    (message,) = outbox(gateway, OLD.format(username))
    assert message["channel"] == "email" and len(message["code"]) == 6
    assert outbox(gateway, NEW.format(username)) == []  # nothing there until it is proved
    assert email_on_record(gateway, username) == OLD.format(username)  # not yet
    done = confirm(gateway, token, message["code"])
    assert done.status_code == 200, done.text
    assert done.json() == {"email": NEW.format(username), "changed": True}
    assert email_on_record(gateway, username) == NEW.format(username)
    told = outbox(gateway, OLD.format(username))[-1]
    assert "changed" in told["text"] and told.get("code") is None
    # Single use.
    again = confirm(gateway, token, message["code"])
    assert again.status_code == 404 and again.json()["error"] == "not_found"
    (line,) = gateway.lines_after(start, '"contacts_changed"')
    event = json.loads(line)
    assert (event["by"], event["proof"], event["changed"]) == ("user", "code", ["email"])
    assert "example" not in line


def test_a_wrong_code_counts_and_three_end_the_change(gateway, username):
    token = user_with_email(gateway, username)
    ask(gateway, token, new_email=NEW.format(username))
    code = outbox(gateway, OLD.format(username))[-1]["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for tries in (1, 2):
        refused = confirm(gateway, token, wrong)
        assert refused.status_code == 401 and refused.json()["error"] == "login_failed"
        assert failures(gateway, username) == tries
    assert confirm(gateway, token, wrong).status_code == 401
    assert failures(gateway, username) == 3
    # The change is over: even the right code finds nothing now.
    assert confirm(gateway, token, code).status_code == 404
    assert email_on_record(gateway, username) == OLD.format(username)


def test_a_code_expires(gateway, username):
    token = user_with_email(gateway, username)
    ask(gateway, token, new_email=NEW.format(username))
    code = outbox(gateway, OLD.format(username))[-1]["code"]
    gateway.advance(600)
    gateway.public.post("/v1/session/tickle", headers=bearer(token))
    gateway.advance(301)  # 15 minutes and a second; the session was tickled
    late = confirm(gateway, token, code)
    assert late.status_code == 404, late.text
    assert email_on_record(gateway, username) == OLD.format(username)


def test_a_code_is_void_once_the_address_it_went_to_is_replaced(gateway, username):
    token = user_with_email(gateway, username)
    ask(gateway, token, new_email=NEW.format(username))
    code = outbox(gateway, OLD.format(username))[-1]["code"]
    moved = gateway.admin.patch(f"/admin/v1/users/{username}", json={"email": "s@support.example"})
    assert moved.status_code == 200
    late = confirm(gateway, token, code)
    assert late.status_code == 404, late.text
    assert email_on_record(gateway, username) == "s@support.example"
    same = ask(gateway, token, new_email="s@support.example")
    assert same.status_code == 400 and "already" in same.json()["message"]


def test_a_new_request_replaces_the_pending_one(gateway, username):
    token = user_with_email(gateway, username)
    ask(gateway, token, new_email="first@new.example")
    first = outbox(gateway, OLD.format(username))[-1]["code"]
    ask(gateway, token, new_email=NEW.format(username))
    second = outbox(gateway, OLD.format(username))[-1]["code"]
    if first != second:
        assert confirm(gateway, token, first).status_code == 401
    assert confirm(gateway, token, second).status_code == 200
    assert email_on_record(gateway, username) == NEW.format(username)


def test_the_password_changes_it_at_once_and_a_wrong_one_counts(gateway, username):
    token = user_with_email(gateway, username)
    start = len(gateway.output)
    wrong = ask(gateway, token, new_email=NEW.format(username), password="wrong1234")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    assert failures(gateway, username) == 1
    assert email_on_record(gateway, username) == OLD.format(username)
    done = ask(gateway, token, new_email=NEW.format(username), password="secret123")
    assert done.status_code == 200, done.text
    assert done.json() == {"email": NEW.format(username), "changed": True}
    assert email_on_record(gateway, username) == NEW.format(username)
    (told,) = outbox(gateway, OLD.format(username))
    assert "changed" in told["text"] and told.get("code") is None
    (line,) = gateway.lines_after(start, '"contacts_changed"')
    assert json.loads(line)["proof"] == "password"


def test_the_password_is_refused_while_locked(gateway, username):
    token = user_with_email(gateway, username)
    for _ in range(10):
        ask(gateway, token, new_email=NEW.format(username), password="wrong1234")
    locked = ask(gateway, token, new_email=NEW.format(username), password="secret123")
    assert locked.status_code == 423 and locked.json()["error"] == "locked"
    assert email_on_record(gateway, username) == OLD.format(username)


def test_without_an_e_mail_on_record_the_password_is_needed(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username).json()["token"]
    refused = ask(gateway, token, new_email=NEW.format(username))
    assert refused.status_code == 400 and "password" in refused.json()["message"]
    done = ask(gateway, token, new_email=NEW.format(username), password="secret123")
    assert done.status_code == 200, done.text
    assert email_on_record(gateway, username) == NEW.format(username)


def test_the_new_address_is_checked_and_a_session_is_needed(gateway, username):
    token = user_with_email(gateway, username)
    bad = ask(gateway, token, new_email="not an address")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    assert outbox(gateway, OLD.format(username)) == []
    anonymous = gateway.public.post("/v1/account/email", json={"new_email": "a@b.example"})
    assert anonymous.status_code == 401
    assert confirm(gateway, "nope", "123456").status_code == 401


def test_a_session_limited_to_card_printing_cannot_change_it(own_gateway, username):
    gateway = own_gateway.start()
    gateway.create_user(username, email=OLD.format(username))
    gateway.admin.post(f"/admin/v1/users/{username}/devices", json={"type": "totp"})
    passcode = gateway.admin.post(f"/admin/v1/users/{username}/temporary-passcode").json()
    gateway.advance(3 * 86_400)
    login = start_login(gateway, username, platform="portal").json()
    portal = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode["passcode"]},
    )
    cookie = {"Cookie": f"gw_session={portal.cookies['gw_session']}"}
    refused = gateway.public.post(
        "/v1/account/email", json={"new_email": NEW.format(username)}, headers=cookie
    )
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
