"""Recovery over HTTP: a forgotten password (the same answer for known and
unknown names, under the limits too, a code through the notifier, the IB
Key's approval when one is active, sessions ended), a forgotten username,
and floods of recoveries that cost the user nothing."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.flows import bearer, start_login
from tests.http.harness import TEST_CONFIG, GatewayProcess
from tests.http.test_ibkey import approvals, decide, push, user_with_ibkey, verify

# Every test here comes from 127.0.0.1: the per-address limit stays out of
# the way (tests/edge/test_admission.py has it). Per name: the defaults.
# Per destination: one message, so the limits act within a test.
CONFIG = (
    TEST_CONFIG
    + """
[login_admission]
recovery_rate = 1000.0
recovery_burst = 100000

[recovery]
destination_burst = 1
pending_per_user = 2
"""
)
# Floods: nothing but the notifier between the recoveries and the person.
FLOOD_CONFIG = (
    TEST_CONFIG
    + """
[login_admission]
recovery_rate = 1000.0
recovery_burst = 100000

[recovery]
user_burst = 100000
destination_burst = 100000
pending_per_user = 100
"""
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("recovery") / "data", CONFIG).start()
    yield process
    process.stop()


@pytest.fixture
def flooded(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "data", FLOOD_CONFIG).start()
    yield process
    process.stop()


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
    # Ended: the right code fails now, as any code for a name nobody has.
    assert finish(gateway, recovery_id, code).json()["error"] == "login_failed"


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


def same_answer(known, unknown):
    assert known.status_code == unknown.status_code
    assert known.json().keys() == unknown.json().keys()
    assert len(known.content) == len(unknown.content)
    assert known.headers.get("Retry-After") == unknown.headers.get("Retry-After")


def test_known_and_unknown_names_answer_alike_under_the_limits(gateway, username):
    email = f"{username}@example.com"
    gateway.create_user(username, email=email)
    stranger = "x" + username[1:]  # nobody has it
    known = [start(gateway, username) for _ in range(4)]
    unknown = [start(gateway, stranger) for _ in range(4)]
    # Per name (3 at once): the same refusal for both. For the real user the
    # destination limit held back the second code and the pending cap refused
    # the third recovery, and neither answer shows it.
    assert [a.status_code for a in known] == [202, 202, 202, 429]
    for mine, theirs in zip(known, unknown, strict=True):
        same_answer(mine, theirs)
    assert len(gateway.admin.get("/admin/v1/outbox", params={"to": email}).json()["messages"]) == 1
    for mine, theirs in zip(known[:3], unknown[:3], strict=True):
        wrong = "000000" if code_to(gateway, email)["code"] != "000000" else "111111"
        same_answer(
            finish(gateway, mine.json()["recovery_id"], wrong),
            finish(gateway, theirs.json()["recovery_id"], wrong),
        )


def test_a_flood_of_recoveries_sends_the_user_a_few_messages(flooded, username):
    email = f"{username}@example.com"
    flooded.create_user(username, email=email)
    answers = {start(flooded, username).status_code for _ in range(50)}
    assert answers == {202}
    sent = flooded.admin.get("/admin/v1/outbox", params={"to": email}).json()["messages"]
    assert len(sent) == 5  # [notifier] per_user_per_minute


def test_recovery_pushes_never_push_out_a_login_approval(flooded, username):
    phone = user_with_ibkey(flooded, username)
    login = start_login(flooded, username).json()
    push(flooded, login["login_id"])
    assert {start(flooded, username).status_code for _ in range(12)} == {202}
    listed = approvals(flooded, phone).json()["approvals"]
    platforms = sorted(a["platform"] for a in listed)
    assert platforms == ["password-reset"] * 3 + ["tws"]
    (mine,) = [a for a in listed if a["platform"] != "password-reset"]
    assert decide(flooded, phone, mine, "approve").status_code == 200
    assert verify(flooded, login["login_id"]).status_code == 200
    wakes = flooded.admin.get("/admin/v1/outbox", params={"to": phone.device_id}).json()
    assert len(wakes["messages"]) <= 5
