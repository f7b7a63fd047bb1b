"""SMS and voice codes end to end, read from the notifier outbox as a person
reads their phone; and the webhook notifier against a real HTTP receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.http.flows import start_login
from tests.http.harness import TEST_CONFIG, GatewayProcess

PHONE = "+15550100"


def enrol_sms(gateway, username, phone=PHONE):
    answer = gateway.admin.post(
        f"/admin/v1/users/{username}/devices", json={"type": "sms", "phone": phone}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def last_message(gateway, to):
    messages = gateway.admin.get("/admin/v1/outbox", params={"to": to}).json()["messages"]
    return messages[-1]


def ask(gateway, login_id, channel=None):
    body = {"method": "sms", **({"channel": channel} if channel else {})}
    return gateway.public.post(f"/v1/login/{login_id}/challenge", json=body)


def answer(gateway, login_id, code):
    return gateway.public.post(
        f"/v1/login/{login_id}/verify", json={"method": "sms", "response": code}
    )


def phone_for(username):
    return "+1555" + str(abs(hash(username)) % 10**7).zfill(7)


def test_an_sms_login_end_to_end(gateway, username):
    gateway.create_user(username)
    phone = phone_for(username)
    assert enrol_sms(gateway, username, phone)["phone"] == phone
    login = start_login(gateway, username).json()
    assert login["methods"] == ["sms"]
    sent = ask(gateway, login["login_id"])
    assert sent.json() == {"method": "sms", "sent": "sms"}
    message = last_message(gateway, phone)
    assert message["channel"] == "sms" and message["code"] in message["text"]
    assert "secret123" not in json.dumps(message)
    done = answer(gateway, login["login_id"], message["code"])
    assert done.status_code == 200, done.text
    assert done.json()["session"]["method"] == "sms"


def test_voice_callback_replaces_the_code(gateway, username):
    gateway.create_user(username)
    phone = phone_for(username)
    enrol_sms(gateway, username, phone)
    login = start_login(gateway, username).json()
    ask(gateway, login["login_id"])
    first = last_message(gateway, phone)["code"]
    voice = ask(gateway, login["login_id"], "voice")
    assert voice.json()["sent"] == "voice"
    call = last_message(gateway, phone)
    assert call["channel"] == "voice"
    if call["code"] != first:  # one chance in a million they are the same
        assert answer(gateway, login["login_id"], first).json()["error"] == "login_failed"
        ask(gateway, login["login_id"], "voice")
        call = last_message(gateway, phone)
    assert answer(gateway, login["login_id"], call["code"]).status_code == 200


def test_resends_are_limited_per_login(gateway, username):
    gateway.create_user(username)
    enrol_sms(gateway, username, phone_for(username))
    login = start_login(gateway, username).json()
    statuses = [ask(gateway, login["login_id"]).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_code_expires_is_used_once_and_a_wrong_one_counts(gateway, username):
    gateway.create_user(username)
    phone = phone_for(username)
    enrol_sms(gateway, username, phone)
    login = start_login(gateway, username).json()
    ask(gateway, login["login_id"])
    code = last_message(gateway, phone)["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert answer(gateway, login["login_id"], wrong).json()["error"] == "login_failed"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1
    assert answer(gateway, login["login_id"], code).json()["error"] == "login_failed"  # spent
    ask(gateway, login["login_id"])
    code = last_message(gateway, phone)["code"]
    gateway.advance(121)  # the code's 120 s (tests/http/harness.py), within the login's 300
    assert answer(gateway, login["login_id"], code).json()["error"] == "login_failed"


GARBAGE = ["", " 123456", "12345", "1234567", "abcdef", "\uff11" * 6, "1" * 1000]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_codes_are_login_failed(gateway, username, garbage):
    gateway.create_user(username)
    enrol_sms(gateway, username, phone_for(username))
    login = start_login(gateway, username).json()
    ask(gateway, login["login_id"])
    refused = answer(gateway, login["login_id"], garbage)
    assert refused.status_code == 401 and refused.json()["error"] == "login_failed"


def test_the_phone_on_record_is_the_default(gateway, username):
    gateway.create_user(username)
    missing = gateway.admin.post(f"/admin/v1/users/{username}/devices", json={"type": "sms"})
    assert missing.status_code == 400 and "phone" in missing.json()["message"]
    gateway.create_user(username[:50] + "p", phone="+1 555 010 9999")
    device = gateway.admin.post(f"/admin/v1/users/{username[:50]}p/devices", json={"type": "sms"})
    assert device.json()["phone"] == "+15550109999"
    bad = gateway.admin.post(
        f"/admin/v1/users/{username}/devices", json={"type": "sms", "phone": "12"}
    )
    assert bad.status_code == 400


class Receiver(BaseHTTPRequestHandler):
    """A webhook provider: fails the first delivery with 503, then takes them."""

    received: ClassVar[list[dict]] = []
    calls = 0

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        payload = json.loads(self.rfile.read(length))
        Receiver.calls += 1
        if Receiver.calls == 1:
            self.send_response(503)
        else:
            Receiver.received.append(payload)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_webhook_notifier_delivers_with_retries(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    config = TEST_CONFIG + f'\n[notifier]\nkind = "webhook"\nwebhook_url = "{url}"\n'
    gateway = GatewayProcess(tmp_path / "data", config).start()
    try:
        gateway.create_user("hooked")
        enrol_sms(gateway, "hooked")
        login = start_login(gateway, "hooked").json()
        ask(gateway, login["login_id"])
        kept = last_message(gateway, PHONE)
        for _ in range(100):
            if Receiver.received:
                break
            threading.Event().wait(0.05)
        assert Receiver.received == [kept] and Receiver.calls == 2
        assert answer(gateway, login["login_id"], Receiver.received[0]["code"]).status_code == 200
    finally:
        gateway.stop()
        server.shutdown()


def test_an_unreachable_webhook_never_blocks_a_login(tmp_path):
    config = TEST_CONFIG + '\n[notifier]\nkind = "webhook"\nwebhook_url = "http://127.0.0.1:9/x"\n'
    gateway = GatewayProcess(tmp_path / "data", config).start()
    try:
        gateway.create_user("lonely")
        enrol_sms(gateway, "lonely")
        for _ in range(3):
            login = start_login(gateway, "lonely").json()
            assert ask(gateway, login["login_id"]).status_code == 200
            code = last_message(gateway, PHONE)["code"]
            done = answer(gateway, login["login_id"], code)
            assert done.status_code == 200
            gateway.public.post(
                "/v1/logout", headers={"Authorization": f"Bearer {done.json()['token']}"}
            )
    finally:
        gateway.stop()
