"""The OCRA security cards (dscplus, platinum, gold, dsc) end to end over
HTTP. Responses are computed by the ``oath`` package, an OCRA implementation
independent of ``_fastcore``, from what enrolment handed out."""

import base64

import oath
import pytest

from tests.http.flows import bearer, start_login

CARDS = ["dscplus", "platinum", "gold", "dsc"]
SUITES = {
    "dscplus": "OCRA-1:HOTP-SHA1-8:QN06-PSHA1",
    "platinum": "OCRA-1:HOTP-SHA1-8:QN06-PSHA1",
    "gold": "OCRA-1:HOTP-SHA1-8:QN06-PSHA1",
    "dsc": "OCRA-1:HOTP-SHA1-8:QN06",
}


def enrol(gateway, username, kind="dscplus", **extra):
    answer = gateway.admin.post(f"/admin/v1/users/{username}/devices", json={"type": kind, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def card_answer(card, challenge, pin=None):
    """What the physical card shows, by an independent implementation."""
    key = base64.urlsafe_b64decode(card["secret"] + "=" * (-len(card["secret"]) % 4))
    suite = oath.str2ocrasuite(card["ocra_suite"])
    if card["ocra_suite"].endswith("PSHA1"):
        return suite(key, Q=challenge, P=pin or card["pin"])
    return suite(key, Q=challenge)


def challenge(gateway, login_id, method="dscplus"):
    answer = gateway.public.post(f"/v1/login/{login_id}/challenge", json={"method": method})
    assert answer.status_code == 200, answer.text
    return answer.json()["challenge"]


def respond(gateway, login_id, response, method="dscplus"):
    return gateway.public.post(
        f"/v1/login/{login_id}/verify", json={"method": method, "response": response}
    )


def failures(gateway, username):
    return gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"]


@pytest.mark.parametrize("kind", CARDS)
def test_a_card_login_end_to_end(gateway, username, kind):
    gateway.create_user(username)
    card = enrol(gateway, username, kind)
    assert card["ocra_suite"] == SUITES[kind] and card["type"] == kind
    assert card["pin"] is not None and len(card["pin"]) == 4
    login = start_login(gateway, username).json()
    assert login["methods"] == [kind]
    shown = challenge(gateway, login["login_id"], kind)
    assert len(shown) == 6 and shown.isdigit()
    done = respond(gateway, login["login_id"], card_answer(card, shown), kind)
    assert done.status_code == 200, done.text
    assert done.json()["session"]["method"] == kind


def test_a_card_made_elsewhere_with_a_given_pin(gateway, username):
    gateway.create_user(username)
    key = base64.urlsafe_b64encode(bytes(range(20))).rstrip(b"=").decode()
    card = enrol(gateway, username, secret=key, pin="4321")
    assert card["secret"] == key and card.get("pin") is None  # nothing new to show
    login = start_login(gateway, username).json()
    shown = challenge(gateway, login["login_id"])
    response = card_answer(card, shown, pin="4321")
    assert respond(gateway, login["login_id"], response).status_code == 200


@pytest.mark.parametrize("kind", CARDS)
def test_a_wrong_response_counts_and_the_challenge_is_spent(gateway, username, kind):
    gateway.create_user(username)
    card = enrol(gateway, username, kind)
    login = start_login(gateway, username).json()
    shown = challenge(gateway, login["login_id"], kind)
    right = card_answer(card, shown)
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    answer = respond(gateway, login["login_id"], wrong, kind)
    assert answer.status_code == 401 and answer.json()["error"] == "login_failed"
    assert failures(gateway, username) == 1
    # The challenge was answered once: even the right response is late now.
    assert respond(gateway, login["login_id"], right, kind).json()["error"] == "login_failed"
    fresh = challenge(gateway, login["login_id"], kind)
    assert respond(gateway, login["login_id"], card_answer(card, fresh), kind).status_code == 200


def test_a_challenge_expires(gateway, username):
    gateway.create_user(username)
    card = enrol(gateway, username)
    login = start_login(gateway, username).json()
    shown = challenge(gateway, login["login_id"])
    gateway.advance(181)
    # The login lives 300 s: this is the challenge's own expiry.
    assert respond(gateway, login["login_id"], card_answer(card, shown)).json()["error"] == (
        "login_failed"
    )


def test_a_response_is_never_good_twice(gateway, username):
    gateway.create_user(username)
    card = enrol(gateway, username)
    first = start_login(gateway, username).json()
    shown = challenge(gateway, first["login_id"])
    response = card_answer(card, shown)
    done = respond(gateway, first["login_id"], response)
    assert done.status_code == 200
    gateway.public.post("/v1/logout", headers=bearer(done.json()["token"]))
    second = start_login(gateway, username).json()
    challenge(gateway, second["login_id"])  # a new, random challenge
    replay = respond(gateway, second["login_id"], response)
    # One chance in a million that the new challenge has the same answer.
    assert replay.json()["error"] == "login_failed"


GARBAGE = [
    "",
    " 1234567",
    "1234567 ",
    "12345678 ",
    "1234 5678",
    "abcdefgh",
    "1234567",
    "123456789",
    "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
    "1" * 1000,
    "\x00" * 8,
    "-1234567",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_responses_are_login_failed(gateway, username, garbage):
    gateway.create_user(username)
    enrol(gateway, username)
    login = start_login(gateway, username).json()
    challenge(gateway, login["login_id"])
    answer = respond(gateway, login["login_id"], garbage)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "login_failed"


def test_ten_wrong_card_responses_lock(gateway, username):
    gateway.create_user(username)
    enrol(gateway, username)
    login = start_login(gateway, username).json()
    for _ in range(10):
        challenge(gateway, login["login_id"])
        respond(gateway, login["login_id"], "00000000")
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["locked"] is True


def test_the_user_changes_the_pin_with_the_old_one(gateway, username):
    gateway.create_user(username)
    card = enrol(gateway, username, pin="1111")
    gateway.create_user(username + "x")  # no card: a password-only session
    login = start_login(gateway, username).json()
    done = respond(
        gateway, login["login_id"], card_answer(card, challenge(gateway, login["login_id"]), "1111")
    )
    token = done.json()["token"]
    url = f"/v1/devices/{card['device_id']}/pin"
    wrong = gateway.public.post(
        url, json={"old_pin": "2222", "new_pin": "3333"}, headers=bearer(token)
    )
    assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"
    bad = gateway.public.post(
        url, json={"old_pin": "1111", "new_pin": "33a3"}, headers=bearer(token)
    )
    assert bad.status_code == 400
    ok = gateway.public.post(
        url, json={"old_pin": "1111", "new_pin": "3333"}, headers=bearer(token)
    )
    assert ok.status_code == 200, ok.text
    gateway.public.post("/v1/logout", headers=bearer(token))
    login = start_login(gateway, username).json()
    shown = challenge(gateway, login["login_id"])
    assert respond(gateway, login["login_id"], card_answer(card, shown, "1111")).status_code == 401
    shown = challenge(gateway, login["login_id"])
    assert respond(gateway, login["login_id"], card_answer(card, shown, "3333")).status_code == 200


def test_support_resets_a_forgotten_pin(gateway, username):
    gateway.create_user(username)
    card = enrol(gateway, username, pin="1111")
    reset = gateway.admin.post(
        f"/admin/v1/users/{username}/devices/{card['device_id']}/pin", json={"new_pin": "9876"}
    )
    assert reset.status_code == 200, reset.text
    login = start_login(gateway, username).json()
    shown = challenge(gateway, login["login_id"])
    assert respond(gateway, login["login_id"], card_answer(card, shown, "9876")).status_code == 200


def test_someone_elses_card_pin_cannot_be_changed(gateway, username):
    gateway.create_user(username)
    card = enrol(gateway, username, pin="1111")
    other = username[:50] + "o"
    gateway.create_user(other)
    token = start_login(gateway, other).json()["token"]
    answer = gateway.public.post(
        f"/v1/devices/{card['device_id']}/pin",
        json={"old_pin": "1111", "new_pin": "2222"},
        headers=bearer(token),
    )
    assert answer.status_code == 404


def test_the_dsc_enrolment_says_its_pin_is_the_cards_alone(gateway, username):
    gateway.create_user(username)
    dsc = enrol(gateway, username, "dsc")
    assert dsc["pin_checked"] is False
    assert "unlocks the card itself" in dsc["pin_note"] and "never" in dsc["pin_note"]
    dscplus = enrol(gateway, username, "dscplus")
    assert dscplus["pin_checked"] is True and "checks this PIN" in dscplus["pin_note"]
    # The gateway keeps no PIN of a dsc: none to change here (the card's own
    # menu changes it).
    login = start_login(gateway, username).json()
    done = respond(
        gateway,
        login["login_id"],
        card_answer(dsc, challenge(gateway, login["login_id"], "dsc")),
        "dsc",
    )
    assert done.status_code == 200, done.text
    changed = gateway.public.post(
        f"/v1/devices/{dsc['device_id']}/pin",
        json={"old_pin": dsc["pin"], "new_pin": "2468"},
        headers=bearer(done.json()["token"]),
    )
    assert changed.status_code == 400 and "on the card" in changed.json()["message"]
    reset = gateway.admin.post(
        f"/admin/v1/users/{username}/devices/{dsc['device_id']}/pin", json={"new_pin": "2468"}
    )
    assert reset.status_code == 400
