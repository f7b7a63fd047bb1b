"""Support changes where a user's messages go (PATCH /admin/v1/users/{u}):
checked as at creation, audited without the addresses, the old e-mail and
the old phone told, kept across a restart; a quick-start user given a phone
this way can activate an IB Key."""

import json

import pytest

from tests.http.test_ibkey import activate


def outbox(gateway, to):
    return gateway.admin.get("/admin/v1/outbox", params={"to": to}).json()["messages"]


def patch(gateway, username, **fields):
    return gateway.admin.patch(f"/admin/v1/users/{username}", json=fields)


def test_support_changes_the_e_mail_and_phone_and_the_old_ones_are_told(gateway, username):
    gateway.create_user(username, email=f"{username}@old.example", phone="+15550001111")
    start = len(gateway.output)
    changed = patch(gateway, username, email=f"{username}@NEW.example", phone="+1 555 000 2222")
    assert changed.status_code == 200, changed.text
    body = changed.json()
    # Put in canonical form, as at creation.
    assert body["email"] == f"{username}@new.example" and body["phone"] == "+15550002222"
    shown = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert (shown["email"], shown["phone"]) == (body["email"], body["phone"])
    (to_old_email,) = outbox(gateway, f"{username}@old.example")
    assert to_old_email["channel"] == "email" and "changed" in to_old_email["text"]
    assert f"{username}@new.example" not in to_old_email["text"]  # partly hidden
    (to_old_phone,) = outbox(gateway, "+15550001111")
    assert to_old_phone["channel"] == "sms" and "2222" in to_old_phone["text"]
    assert outbox(gateway, f"{username}@new.example") == []
    (line,) = gateway.lines_after(start, '"contacts_changed"')
    event = json.loads(line)
    assert event["user"] == username and event["changed"] == ["email", "phone"]
    assert event["by"] == "support" and sorted(event["told"]) == ["email", "sms"]
    assert "example" not in line and "555" not in line  # no address in the audit log


def test_one_field_alone_leaves_the_other(gateway, username):
    gateway.create_user(username, email=f"{username}@old.example")
    changed = patch(gateway, username, phone="+15550003333")
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == f"{username}@old.example"
    assert changed.json()["phone"] == "+15550003333"
    # Nobody to tell: there was no phone, and the e-mail did not change.
    assert outbox(gateway, f"{username}@old.example") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "not-an-address"},
        {"email": "a@b"},
        {"phone": "5550001111"},
        {"phone": "+1 555 abc"},
        {},
    ],
    ids=["email-no-domain", "email-one-label", "phone-no-plus", "phone-letters", "nothing"],
)
def test_addresses_are_checked_as_at_creation(gateway, username, fields):
    gateway.create_user(username, email=f"{username}@old.example", phone="+15550001111")
    refused = patch(gateway, username, **fields)
    assert refused.status_code == 400 and refused.json()["error"] == "bad_request"
    shown = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert (shown["email"], shown["phone"]) == (f"{username}@old.example", "+15550001111")
    assert outbox(gateway, f"{username}@old.example") == []


def test_an_unknown_user_is_not_found(gateway):
    answer = patch(gateway, "nosuchuser", email="x@y.example")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_a_quick_start_user_given_a_phone_activates_an_ib_key(gateway, username):
    gateway.create_user(username)  # no e-mail, no phone
    refused = gateway.public.post(
        "/v1/ibkey/activations", json={"username": username, "password": "secret123"}
    )
    assert refused.status_code == 400, refused.text
    assert patch(gateway, username, phone="+15550004444").status_code == 200
    phone = activate(gateway, username)
    assert outbox(gateway, "+15550004444")[-1]["code"]  # the activation token went there
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["devices"] == [
        f"ibkey:{phone.device_id}"
    ]


def test_the_change_outlives_a_restart(own_gateway, username):
    gateway = own_gateway.start()
    gateway.create_user(username, email=f"{username}@old.example")
    assert patch(gateway, username, email=f"{username}@new.example").status_code == 200
    gateway.restart()
    shown = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert shown["email"] == f"{username}@new.example"
    # The forgotten-username mail finds the user at the new address only.
    for address in (f"{username}@old.example", f"{username}@new.example"):
        gateway.public.post("/v1/recovery/username", json={"email": address})
    assert [m["text"] for m in outbox(gateway, f"{username}@new.example")] == [
        f"Your username is {username}."
    ]
    assert all("username is" not in m["text"] for m in outbox(gateway, f"{username}@old.example"))
