"""IB Key end to end over HTTP: activation on the phone (the token read from
the notifier outbox), push approvals signed by the device key, the offline
challenge/response (checked against the oath package), migration, and a
temporary passcode delivered to the phone, sealed for its key."""

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import oath
import pytest
from cryptography.exceptions import InvalidTag

from gateway.encoding import from_b64u
from gateway.simulators import Phone, write_device_file
from tests.http.flows import start_login
from tests.http.harness import gateway_command

PIN = "12a4"


def activate(gateway, username, phone=None, password="secret123"):
    phone = phone or Phone()
    started = gateway.public.post(
        "/v1/ibkey/activations", json={"username": username, "password": password}
    )
    assert started.status_code == 202, started.text
    user = gateway.admin.get(f"/admin/v1/users/{username}").json()
    token = gateway.admin.get("/admin/v1/outbox", params={"to": user["phone"]}).json()["messages"][
        -1
    ]["code"]
    done = gateway.public.post(
        f"/v1/ibkey/activations/{started.json()['activation_id']}",
        json={"token": token, "public_key": phone.public_key, "pin": PIN},
    )
    assert done.status_code == 201, done.text
    phone.activated(done.json())
    return phone


def user_with_ibkey(gateway, username):
    gateway.create_user(username, phone="+1555" + str(abs(hash(username)) % 10**7).zfill(7))
    return activate(gateway, username)


def push(gateway, login_id):
    answer = gateway.public.post(f"/v1/login/{login_id}/challenge", json={"method": "ibkey"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def approvals(gateway, phone):
    answer = gateway.public.get(
        f"/v1/ibkey/{phone.device_id}/approvals", headers=phone.list_headers(gateway.now())
    )
    return answer


def decide(gateway, phone, approval, decision, signer=None):
    body = (signer or phone).answer(approval, decision)
    return gateway.public.post(
        f"/v1/ibkey/{phone.device_id}/approvals/{approval['approval_id']}", json=body
    )


def verify(gateway, login_id, response=""):
    return gateway.public.post(
        f"/v1/login/{login_id}/verify", json={"method": "ibkey", "response": response}
    )


def test_activation_then_a_push_login(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    assert login["methods"] == ["ibkey"]
    shown = push(gateway, login["login_id"])
    assert shown["pending"] is True and len(shown["challenge"]) == 8
    assert gateway.public.get(f"/v1/login/{login['login_id']}").json()["push"] == "pending"
    (approval,) = approvals(gateway, phone).json()["approvals"]
    assert approval["username"] == username and approval["platform"] == "tws"
    assert decide(gateway, phone, approval, "approve").status_code == 200
    assert gateway.public.get(f"/v1/login/{login['login_id']}").json()["push"] == "approved"
    done = verify(gateway, login["login_id"])
    assert done.status_code == 200, done.text
    assert done.json()["session"]["method"] == "ibkey"


def test_a_denial_fails_the_login_and_counts(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    push(gateway, login["login_id"])
    (approval,) = approvals(gateway, phone).json()["approvals"]
    decide(gateway, phone, approval, "deny")
    assert gateway.public.get(f"/v1/login/{login['login_id']}").json()["push"] == "denied"
    assert verify(gateway, login["login_id"]).json()["error"] == "login_failed"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1


def test_only_the_bound_key_signs(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    push(gateway, login["login_id"])
    (approval,) = approvals(gateway, phone).json()["approvals"]
    impostor = Phone()
    forged = decide(gateway, phone, approval, "approve", signer=impostor)
    assert forged.status_code == 403 and forged.json()["error"] == "forbidden"
    impostor.data["device_id"] = phone.device_id
    listing = gateway.public.get(
        f"/v1/ibkey/{phone.device_id}/approvals", headers=impostor.list_headers(gateway.now())
    )
    assert listing.status_code == 403
    stale = gateway.public.get(
        f"/v1/ibkey/{phone.device_id}/approvals", headers=phone.list_headers(gateway.now() - 120)
    )
    assert stale.status_code == 403
    # A signature over another decision does not pass for this one.
    other = phone.answer(approval, "deny")
    swapped = gateway.public.post(
        f"/v1/ibkey/{phone.device_id}/approvals/{approval['approval_id']}",
        json={"decision": "approve", "signature": other["signature"]},
    )
    assert swapped.status_code == 403
    assert verify(gateway, login["login_id"]).json()["error"] == "login_failed"


def offline_answer(phone, challenge, pin=PIN):
    """The offline response, by an OCRA implementation other than _fastcore."""
    suite = oath.str2ocrasuite(phone.data["ocra_suite"])
    return suite(from_b64u(phone.data["ocra_key"]), Q=challenge, P=pin)


def test_the_offline_challenge_and_response(gateway, username):
    phone = user_with_ibkey(gateway, username)
    assert phone.data["ocra_suite"] == "OCRA-1:HOTP-SHA256-8:QN08-PSHA256"
    login = start_login(gateway, username).json()
    shown = push(gateway, login["login_id"])["challenge"]
    response = offline_answer(phone, shown)
    assert response == phone.offline(shown, PIN)
    done = verify(gateway, login["login_id"], response)
    assert done.status_code == 200, done.text


GARBAGE = ["", " 1234567", "1234567", "123456789", "abcdefgh", "\uff11" * 8, "1" * 1000]


@pytest.mark.parametrize("garbage", GARBAGE[1:], ids=range(len(GARBAGE) - 1))
def test_garbage_offline_responses_fail(gateway, username, garbage):
    user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    push(gateway, login["login_id"])
    answer = verify(gateway, login["login_id"], garbage)
    assert answer.status_code == 401 and answer.json()["error"] == "login_failed"


def test_a_migration_ends_the_old_phone_at_once(gateway, username):
    old = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    shown = push(gateway, login["login_id"])["challenge"]
    (pending,) = approvals(gateway, old).json()["approvals"]
    new = activate(gateway, username)  # on the new phone
    assert new.device_id != old.device_id
    # The old phone can neither list nor approve, not even what was pending.
    assert approvals(gateway, old).status_code == 403
    assert decide(gateway, old, pending, "approve").status_code == 403
    assert verify(gateway, login["login_id"]).json()["error"] == "login_failed"
    # Nor does its offline response work.
    again = push(gateway, login["login_id"])["challenge"]
    assert verify(gateway, login["login_id"], offline_answer(old, again)).status_code == 401
    # The new phone does.
    fresh = push(gateway, login["login_id"])["challenge"]
    assert verify(gateway, login["login_id"], offline_answer(new, fresh)).status_code == 200
    del shown


def test_fifty_concurrent_approvals_of_one_push_open_one_session(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    push(gateway, login["login_id"])
    (approval,) = approvals(gateway, phone).json()["approvals"]
    body = phone.answer(approval, "approve")

    def approve(_):
        with httpx.Client(base_url=gateway.public_url, timeout=30) as client:
            return client.post(
                f"/v1/ibkey/{phone.device_id}/approvals/{approval['approval_id']}", json=body
            ).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        answered = list(pool.map(approve, range(50)))
    assert answered.count(200) == 1 and set(answered) <= {200, 400}, answered

    def tap(_):
        with httpx.Client(base_url=gateway.public_url, timeout=30) as client:
            return client.post(
                f"/v1/login/{login['login_id']}/verify", json={"method": "ibkey", "response": ""}
            ).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(tap, range(50)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 404, 429}
    user = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert user["failures"] == 0 and not user["locked"]
    sessions = gateway.admin.get("/admin/v1/sessions", params={"username": username}).json()
    assert len([s for s in sessions["sessions"] if s["user"] == username]) == 1


def test_activation_checks_the_password_like_a_login(gateway, username):
    gateway.create_user(username, phone="+15550123456")
    wrong = gateway.public.post(
        "/v1/ibkey/activations", json={"username": username, "password": "wrong123"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    nobody = gateway.public.post(
        "/v1/ibkey/activations", json={"username": "nosuchuser", "password": "wrong123"}
    )
    assert nobody.json() == wrong.json()
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1
    started = gateway.public.post(
        "/v1/ibkey/activations", json={"username": username, "password": "secret123"}
    ).json()
    phone = Phone()
    for token in ("00000000", "11111111", "22222222"):
        bad = gateway.public.post(
            f"/v1/ibkey/activations/{started['activation_id']}",
            json={"token": token, "public_key": phone.public_key, "pin": PIN},
        )
        assert bad.status_code in (401, 404)
    # Three wrong tokens end the activation, even for the right one.
    right = gateway.admin.get("/admin/v1/outbox", params={"to": "+15550123456"}).json()
    late = gateway.public.post(
        f"/v1/ibkey/activations/{started['activation_id']}",
        json={"token": right["messages"][-1]["code"], "public_key": phone.public_key, "pin": PIN},
    )
    assert late.status_code == 404


BAD_PINS = ["123", "1234567", "abcd", "12 4", "12-4"]


@pytest.mark.parametrize("pin", BAD_PINS, ids=range(len(BAD_PINS)))
def test_the_pin_rules(gateway, username, pin):
    gateway.create_user(username, phone="+15550123457")
    started = gateway.public.post(
        "/v1/ibkey/activations", json={"username": username, "password": "secret123"}
    ).json()
    token = gateway.admin.get("/admin/v1/outbox", params={"to": "+15550123457"}).json()["messages"][
        -1
    ]["code"]
    answer = gateway.public.post(
        f"/v1/ibkey/activations/{started['activation_id']}",
        json={"token": token, "public_key": Phone().public_key, "pin": pin},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_the_ib_key_pin_changes_with_the_old_one(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    shown = push(gateway, login["login_id"])["challenge"]
    token = verify(gateway, login["login_id"], offline_answer(phone, shown)).json()["token"]
    url = f"/v1/devices/{phone.device_id}/pin"
    auth = {"Authorization": f"Bearer {token}"}
    wrong = gateway.public.post(url, json={"old_pin": "99z9", "new_pin": "77b7"}, headers=auth)
    assert wrong.status_code == 403
    weak = gateway.public.post(url, json={"old_pin": PIN, "new_pin": "abcd"}, headers=auth)
    assert weak.status_code == 400
    ok = gateway.public.post(url, json={"old_pin": PIN, "new_pin": "77b7"}, headers=auth)
    assert ok.status_code == 200, ok.text
    gateway.public.post("/v1/logout", headers=auth)
    login = start_login(gateway, username).json()
    shown = push(gateway, login["login_id"])["challenge"]
    assert verify(gateway, login["login_id"], offline_answer(phone, shown)).status_code == 401
    shown = push(gateway, login["login_id"])["challenge"]
    answer = offline_answer(phone, shown, pin="77b7")
    assert verify(gateway, login["login_id"], answer).status_code == 200


def test_a_security_card_can_stand_in_for_the_sms_token(gateway, username):
    from tests.http.test_cards import card_answer, enrol

    gateway.create_user(username)  # no phone on record at all
    card = enrol(gateway, username, "dscplus")
    no_phone = gateway.public.post(
        "/v1/ibkey/activations", json={"username": username, "password": "secret123"}
    )
    assert no_phone.status_code == 400
    started = gateway.public.post(
        "/v1/ibkey/activations",
        json={"username": username, "password": "secret123", "use": "card"},
    ).json()
    assert started["sent"] is None and len(started["challenge"]) == 6
    phone = Phone()
    wrong = gateway.public.post(
        f"/v1/ibkey/activations/{started['activation_id']}",
        json={"token": "00000000", "public_key": phone.public_key, "pin": PIN},
    )
    assert wrong.status_code == 401
    done = gateway.public.post(
        f"/v1/ibkey/activations/{started['activation_id']}",
        json={
            "token": card_answer(card, started["challenge"]),
            "public_key": phone.public_key,
            "pin": PIN,
        },
    )
    assert done.status_code == 201, done.text
    login = start_login(gateway, username).json()
    assert set(login["methods"]) == {"dscplus", "ibkey"}


def test_a_push_expires(gateway, username):
    # The login lives 300 s; its push, 180 s.
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    push(gateway, login["login_id"])
    (approval,) = approvals(gateway, phone).json()["approvals"]
    assert decide(gateway, phone, approval, "approve").status_code == 200
    gateway.advance(181)
    assert gateway.public.get(f"/v1/login/{login['login_id']}").json()["push"] == "expired"
    assert verify(gateway, login["login_id"]).json()["error"] == "login_failed"
    # An approval answered after its time is unknown.
    push(gateway, login["login_id"])
    (late,) = approvals(gateway, phone).json()["approvals"]
    gateway.advance(181)
    assert decide(gateway, phone, late, "approve").status_code == 404


def test_a_push_wakes_the_phone_through_the_notifier(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    push(gateway, login["login_id"])
    woken = gateway.admin.get("/admin/v1/outbox", params={"to": phone.device_id}).json()
    (message,) = woken["messages"]
    assert message["channel"] == "push" and username in message["text"]
    assert "code" not in message or message["code"] is None


def test_a_wrong_offline_response_counts_and_a_used_one_never_works_again(gateway, username):
    phone = user_with_ibkey(gateway, username)
    login = start_login(gateway, username).json()
    shown = push(gateway, login["login_id"])["challenge"]
    right = offline_answer(phone, shown)
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    assert verify(gateway, login["login_id"], wrong).json()["error"] == "login_failed"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1
    shown = push(gateway, login["login_id"])["challenge"]
    used = offline_answer(phone, shown)
    done = verify(gateway, login["login_id"], used)
    assert done.status_code == 200
    gateway.public.post("/v1/logout", headers={"Authorization": f"Bearer {done.json()['token']}"})
    again = start_login(gateway, username).json()
    push(gateway, again["login_id"])  # a new challenge: the old answer is worthless
    assert verify(gateway, again["login_id"], used).json()["error"] == "login_failed"


def test_support_delivers_a_temporary_passcode_to_the_ib_key(own_gateway, username, tmp_path):
    gateway = own_gateway.start()
    phone = user_with_ibkey(gateway, username)
    other = user_with_ibkey(gateway, username + "b")
    sent = gateway.admin.post(
        f"/admin/v1/users/{username}/temporary-passcode", json={"deliver": "ibkey"}
    )
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert answer["delivered"] == "ibkey" and answer["device_id"] == phone.device_id
    assert "passcode" not in answer
    # Only the bound key lists it; another key's signature is refused, and
    # another phone's list does not hold it.
    impostor = Phone()
    impostor.data["device_id"] = phone.device_id
    stolen = gateway.public.get(
        f"/v1/ibkey/{phone.device_id}/approvals", headers=impostor.list_headers(gateway.now())
    )
    assert stolen.status_code == 403
    assert approvals(gateway, other).json()["approvals"] == []
    (item,) = approvals(gateway, phone).json()["approvals"]
    assert item["kind"] == "temporary_passcode" and item["sealed"]
    # Sealed for this phone's key alone.
    with pytest.raises(InvalidTag):
        other.open_delivery({**item})
    passcode = phone.open_delivery(item)
    assert len(passcode) == 10 and passcode.isalnum() and passcode == passcode.upper()
    # The command-line phone opens it too.
    state = tmp_path / "phone.json"
    write_device_file(state, phone.data)
    listed = subprocess.run(
        [*gateway_command(), "device", "ibkey", "approvals", "--file", str(state)],
        capture_output=True,
        text=True,
        env={**os.environ, "GATEWAY_URL": gateway.public_url},
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])["passcode"] == passcode
    # It logs in; answering the item dismisses it.
    login = start_login(gateway, username).json()
    assert "temp_passcode" in login["methods"], login
    done = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode},
    )
    assert done.status_code == 200, done.text
    assert decide(gateway, phone, item, "approve").status_code == 200
    assert approvals(gateway, phone).json()["approvals"] == []


def test_delivery_needs_an_active_ib_key_and_issues_nothing_without_one(gateway, username):
    gateway.create_user(username)
    refused = gateway.admin.post(
        f"/admin/v1/users/{username}/temporary-passcode", json={"deliver": "ibkey"}
    )
    assert refused.status_code == 400 and "IB Key" in refused.json()["message"]
    issued = gateway.admin.post(f"/admin/v1/users/{username}/temporary-passcode")
    assert issued.status_code == 201 and issued.json()["passcode"]  # not "two in a row"
    unknown = gateway.admin.post(
        "/admin/v1/users/nosuchuser77/temporary-passcode", json={"deliver": "ibkey"}
    )
    assert unknown.status_code == 404
