"""Cards support ships: pending (not offered, not accepted at login) until
the holder activates one by answering a challenge from it, or until
[devices] auto_activate_days after its delivery date; both paths on the test
clock."""

import pytest

from tests.http.flows import bearer, enrolled_user, login_with_totp, start_login
from tests.http.test_cards import card_answer

DAY = 86_400


def ship(gateway, username, kind="dscplus", **delivery):
    answer = gateway.admin.post(
        f"/admin/v1/users/{username}/devices",
        json={"type": kind, "ships": True, **(delivery or {"delivery_days": 3})},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def activation(gateway, token, device_id, body):
    return gateway.public.post(
        f"/v1/devices/{device_id}/activate", json=body, headers=bearer(token)
    )


def test_a_shipped_card_waits_for_its_holder(gateway, username):
    app = enrolled_user(gateway, username)
    card = ship(gateway, username)
    now = gateway.now()
    assert card["deliver_at"] == now + 3 * DAY
    assert card["activates_at"] == now + 17 * DAY  # 14 days after delivery
    user = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert user["pending_devices"] == [f"dscplus:{card['device_id']}"]
    # Not offered, and not accepted either.
    login = start_login(gateway, username).json()
    assert login["methods"] == ["totp"]
    asked = gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "dscplus"}
    )
    assert asked.status_code == 400 and asked.json()["error"] == "bad_request"
    # The holder activates it from a session: its challenge, a wrong answer
    # (counted), a fresh challenge, the right answer.
    token = login_with_totp(gateway, username, app).json()["token"]
    shown = activation(gateway, token, card["device_id"], {}).json()
    assert len(shown["challenge"]) == 6
    wrong = activation(gateway, token, card["device_id"], {"response": "00000000"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "login_failed"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1
    shown = activation(gateway, token, card["device_id"], {}).json()
    done = activation(
        gateway, token, card["device_id"], {"response": card_answer(card, shown["challenge"])}
    )
    assert done.status_code == 200, done.text
    assert done.json() == {
        "device_id": card["device_id"],
        "activated": True,
        "sessions_ended": 0,
    }
    again = activation(gateway, token, card["device_id"], {})
    assert again.status_code == 400  # active already
    user = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert user["pending_devices"] == []
    gateway.public.post("/v1/logout", headers=bearer(token))
    login = start_login(gateway, username).json()
    assert login["methods"] == ["totp", "dscplus"]
    shown = gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "dscplus"}
    ).json()["challenge"]
    verified = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "dscplus", "response": card_answer(card, shown)},
    )
    assert verified.status_code == 200, verified.text


def test_a_shipped_card_activates_by_itself_after_its_time(own_gateway, username):
    own_gateway.config_path.write_text(
        own_gateway.config_path.read_text() + "\n[devices]\nauto_activate_days = 7\n"
    )
    gateway = own_gateway.start()
    enrolled_user(gateway, username)
    card = ship(gateway, username, "scc", deliver_at=gateway.now() + 2 * DAY)
    assert card["activates_at"] == card["deliver_at"] + 7 * DAY
    gateway.advance(9 * DAY - 1)
    assert start_login(gateway, username).json()["methods"] == ["totp"]
    gateway.restart()  # the shipment is kept with the data
    gateway.advance(1)
    login = start_login(gateway, username).json()
    assert login["methods"] == ["totp", "scc"]
    asked = gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "scc"}
    ).json()["positions"]
    done = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "scc", "response": "".join(card["card"]["codes"][p] for p in asked)},
    )
    assert done.status_code == 200, done.text
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["pending_devices"] == []


def test_a_user_with_only_a_shipped_card_logs_in_as_before_and_activates_it(gateway, username):
    gateway.create_user(username)
    card = ship(gateway, username, "dsc")
    login = start_login(gateway, username).json()
    assert login["status"] == "ok"  # no second factor yet, as before the card
    token = login["token"]
    shown = activation(gateway, token, card["device_id"], {}).json()["challenge"]
    done = activation(gateway, token, card["device_id"], {"response": card_answer(card, shown)})
    assert done.status_code == 200, done.text
    assert start_login(gateway, username, platform="desktop").json()["methods"] == ["dsc"]


def test_activating_a_replacement_card_ends_the_temporary_passcode(gateway, username):
    gateway.create_user(username)
    lost = gateway.admin.post(f"/admin/v1/users/{username}/devices", json={"type": "dscplus"})
    assert lost.status_code == 201
    passcode = gateway.admin.post(f"/admin/v1/users/{username}/temporary-passcode").json()
    card = ship(gateway, username)
    login = start_login(gateway, username).json()
    assert login["methods"] == ["temp_passcode"]
    session = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode["passcode"]},
    ).json()
    token = session["token"]
    shown = activation(gateway, token, card["device_id"], {}).json()["challenge"]
    done = activation(gateway, token, card["device_id"], {"response": card_answer(card, shown)})
    assert done.status_code == 200, done.text
    assert done.json()["sessions_ended"] == 1  # the passcode's session, with the passcode
    assert gateway.public.get("/v1/session", headers=bearer(token)).status_code == 401
    assert sorted(start_login(gateway, username).json()["methods"]) == ["dscplus"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "dscplus", "ships": True},
        {"type": "dscplus", "ships": True, "deliver_at": 1, "delivery_days": 1},
        {"type": "dscplus", "delivery_days": 1},
        {"type": "totp", "ships": True, "delivery_days": 1},
    ],
    ids=["no-date", "two-dates", "date-unshipped", "totp"],
)
def test_a_shipment_needs_one_delivery_date_and_a_card(gateway, username, body):
    gateway.create_user(username)
    answer = gateway.admin.post(f"/admin/v1/users/{username}/devices", json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["devices"] == []


def test_someone_elses_card_cannot_be_activated(gateway, username):
    gateway.create_user(username)
    card = ship(gateway, username)
    other = username[:50] + "o"
    gateway.create_user(other)
    token = start_login(gateway, other).json()["token"]
    answer = activation(gateway, token, card["device_id"], {})
    assert answer.status_code == 404
    assert activation(gateway, "nope", card["device_id"], {}).status_code == 401


def test_a_shipped_card_cannot_activate_an_ib_key_before_it_is_active(gateway, username):
    gateway.create_user(username)
    card = ship(gateway, username)
    refused = gateway.public.post(
        "/v1/ibkey/activations",
        json={"username": username, "password": "secret123", "use": "card"},
    )
    assert refused.status_code == 400
    gateway.advance(card["activates_at"] - gateway.now() + 1)
    started = gateway.public.post(
        "/v1/ibkey/activations",
        json={"username": username, "password": "secret123", "use": "card"},
    )
    assert started.status_code == 202 and len(started.json()["challenge"]) == 6
