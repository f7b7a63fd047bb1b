"""The notifier's per-user limit as a user who proved their password meets
it: a login's SMS past it is rate_limited with Retry-After; a push past it
does not buzz the phone, and the approval waits in its list all the same."""

from tests.http.flows import start_login
from tests.http.test_ibkey import approvals, decide, push, user_with_ibkey, verify
from tests.http.test_sms import ask, enrol_sms, phone_for


def test_a_login_sms_past_the_limit_is_rate_limited(gateway, username):
    gateway.create_user(username)
    enrol_sms(gateway, username, phone_for(username))
    first = start_login(gateway, username).json()["login_id"]
    second = start_login(gateway, username).json()["login_id"]
    statuses = [ask(gateway, first).status_code for _ in range(3)]
    statuses += [ask(gateway, second).status_code for _ in range(2)]
    assert statuses == [200] * 5  # [notifier] per_user_per_minute
    refused = ask(gateway, second)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 12
    sent = gateway.admin.get("/admin/v1/outbox", params={"to": phone_for(username)}).json()
    assert len(sent["messages"]) == 5
    gateway.advance(60)  # the limit refills (with real time, and the test clock)
    third = start_login(gateway, username).json()["login_id"]
    assert ask(gateway, third).status_code == 200


def test_pushes_past_the_limit_wait_unannounced(gateway, username):
    phone = user_with_ibkey(gateway, username)  # the activation SMS: one message
    logins = [start_login(gateway, username).json()["login_id"] for _ in range(6)]
    for login_id in logins:
        assert push(gateway, login_id)["pending"] is True
    woken = gateway.admin.get("/admin/v1/outbox", params={"to": phone.device_id}).json()
    assert len(woken["messages"]) == 4  # 5 a minute, the activation token included
    listed = approvals(gateway, phone).json()["approvals"]
    assert len(listed) == 6
    assert decide(gateway, phone, listed[-1], "approve").status_code == 200
    assert verify(gateway, logins[-1]).status_code == 200
