"""Withdrawal limits by the tier of the method that authenticated the
session, over rolling 24-hour and 5-business-day windows (New York)."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.http.flows import bearer, enrolled_user, login_with_totp, start_login

NY = ZoneInfo("America/New_York")


def at(year, month, day, hour=12):
    return dt.datetime(year, month, day, hour, tzinfo=NY).timestamp()


def sms_session(gateway, username):
    """A session authenticated by SMS: 200,000 a day, 600,000 in 5 business days."""
    gateway.create_user(username, phone="+15550199999")
    gateway.admin.post(f"/admin/v1/users/{username}/devices", json={"type": "sms"})
    return sms_login(gateway, username)


def sms_login(gateway, username):
    login = start_login(gateway, username).json()
    gateway.public.post(f"/v1/login/{login['login_id']}/challenge", json={"method": "sms"})
    sent = gateway.admin.get("/admin/v1/outbox", params={"to": "+15550199999"}).json()
    done = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "sms", "response": sent["messages"][-1]["code"]},
    )
    assert done.status_code == 200, done.text
    return done.json()["token"]


def withdraw(gateway, token, amount, check=False):
    path = "/v1/withdrawals/check" if check else "/v1/withdrawals"
    return gateway.public.post(path, json={"amount": amount}, headers=bearer(token))


def test_the_tier_is_the_methods_and_totals_roll_over_24_hours(own_gateway, username):
    gateway = own_gateway.start()
    app = enrolled_user(gateway, username)
    token = login_with_totp(gateway, username, app).json()["token"]
    check = withdraw(gateway, token, "600000", check=True).json()
    assert check == {
        "fits": True,
        "method": "totp",
        "daily_limit": "1000000.00",
        "five_day_limit": "1000000.00",
        "remaining_day": "1000000.00",
        "remaining_five_days": "1000000.00",
    }
    assert withdraw(gateway, token, "600000").status_code == 201
    refused = withdraw(gateway, token, "400000.01")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert refused.json()["remaining_day"] == "400000.00"
    assert withdraw(gateway, token, "400000").status_code == 201
    gateway.advance(86_400 + 1)  # the session ended too: the totals are the user's
    token = login_with_totp(gateway, username, app).json()["token"]
    after = withdraw(gateway, token, "1", check=True).json()
    # The day rolled over; the five business days did not.
    assert after["remaining_day"] == "1000000.00" and after["remaining_five_days"] == "0.00"


def test_the_five_day_window_skips_the_weekend(own_gateway, username):
    gateway = own_gateway.start()
    gateway.admin.post("/admin/v1/clock", json={"set": at(2027, 1, 14)})  # a Thursday
    token = sms_session(gateway, username)

    def next_day():
        nonlocal token
        gateway.advance(86_400)
        token = sms_login(gateway, username)  # a day is longer than any session

    assert withdraw(gateway, token, "150000").status_code == 201  # Thursday
    next_day()
    assert withdraw(gateway, token, "150000").status_code == 201  # Friday
    next_day()
    next_day()  # Saturday, Sunday
    next_day()
    assert withdraw(gateway, token, "150000").status_code == 201  # Monday
    next_day()
    assert withdraw(gateway, token, "150000").status_code == 201  # Tuesday
    next_day()  # Wednesday: Thursday to Tuesday is 5 business days, 600,000 used
    wednesday = withdraw(gateway, token, "1", check=True).json()
    assert wednesday["remaining_five_days"] == "0.00" and not wednesday["fits"]
    next_day()  # the next Thursday: last Thursday's 150,000 left the window
    thursday = withdraw(gateway, token, "150000", check=True).json()
    assert thursday["remaining_five_days"] == "150000.00" and thursday["fits"]


def test_concurrent_withdrawals_never_overshoot(own_gateway, username):
    gateway = own_gateway.start()
    token = sms_session(gateway, username)

    def one(_):
        with httpx.Client(base_url=gateway.public_url, timeout=30) as client:
            return client.post(
                "/v1/withdrawals", json={"amount": "3000"}, headers=bearer(token)
            ).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(100)))
    assert statuses.count(201) == 66  # 66 x 3,000 = 198,000 <= 200,000
    assert set(statuses) == {201, 403}
    standing = withdraw(gateway, token, "1", check=True).json()
    assert standing["remaining_day"] == "2000.00"
    # The totals survive a restart (they are kept in the store).
    gateway.restart()
    assert withdraw(gateway, token, "1", check=True).status_code == 401  # sessions are memory
    token = sms_session(gateway, username[:50] + "x")  # another user: its own totals
    assert withdraw(gateway, token, "1", check=True).json()["remaining_day"] == "200000.00"


BAD_AMOUNTS = [100.5, 100, "1.005", "-5", "0", "0.00", "1e3", " 5", "", "5.", "0x10"]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=range(len(BAD_AMOUNTS)))
def test_amounts_are_decimal_strings(gateway, username, amount):
    app = enrolled_user(gateway, username)
    token = login_with_totp(gateway, username, app).json()["token"]
    answer = gateway.public.post(
        "/v1/withdrawals/check", json={"amount": amount}, headers=bearer(token)
    )
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_withdrawals_need_a_session(gateway):
    assert gateway.public.post("/v1/withdrawals", json={"amount": "1"}).status_code == 401
