"""The 10-in-24h lockout, over HTTP with the test clock."""

from tests.http.flows import enrolled_user, start_login, verify

DAY = 86_400


def fail_password(gateway, username, times):
    for _ in range(times):
        answer = start_login(gateway, username, password="wrong123")
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_credentials"


def test_ten_failures_lock_even_the_right_password(gateway, username):
    gateway.create_user(username)
    fail_password(gateway, username, 10)
    answer = start_login(gateway, username)
    assert answer.status_code == 423
    body = answer.json()
    assert body["error"] == "locked"
    assert DAY - 5 <= body["retry_after"] <= DAY
    assert answer.headers["retry-after"] == str(body["retry_after"])


def test_nine_failures_do_not_lock(gateway, username):
    gateway.create_user(username)
    fail_password(gateway, username, 9)
    assert start_login(gateway, username).json()["status"] == "ok"


def test_success_resets_the_count(gateway, username):
    gateway.create_user(username)
    fail_password(gateway, username, 9)
    assert start_login(gateway, username, platform="portal").json()["status"] == "ok"
    fail_password(gateway, username, 9)
    assert start_login(gateway, username, platform="portal").json()["status"] == "ok"


def test_wrong_codes_count_toward_the_lock(gateway, username):
    app = enrolled_user(gateway, username)
    login_id = start_login(gateway, username).json()["login_id"]
    wrong = str((int(app.code()) + 500_000) % 1_000_000).zfill(6)
    for _ in range(10):
        assert verify(gateway, login_id, wrong).json()["error"] == "login_failed"
    locked = verify(gateway, login_id, app.code())
    assert locked.status_code == 423
    assert locked.json()["error"] == "locked"
    assert start_login(gateway, username).json()["error"] == "locked"


def test_lock_ends_a_day_after_the_last_refused_attempt(gateway, username):
    gateway.create_user(username)
    fail_password(gateway, username, 10)
    gateway.advance(DAY - 3600)
    # Refused while locked: the attempt extends the lock to a day from now.
    assert start_login(gateway, username).json()["error"] == "locked"
    gateway.advance(3600 + 60)
    still = start_login(gateway, username)
    assert still.json()["error"] == "locked"
    gateway.advance(DAY + 1)
    assert start_login(gateway, username, platform="portal").json()["status"] == "ok"


def test_failures_older_than_the_window_drop_out(gateway, username):
    gateway.create_user(username)
    fail_password(gateway, username, 9)
    gateway.advance(DAY + 1)
    fail_password(gateway, username, 9)
    assert start_login(gateway, username, platform="portal").json()["status"] == "ok"


def test_support_unlocks(gateway, username):
    gateway.create_user(username)
    fail_password(gateway, username, 10)
    assert start_login(gateway, username).json()["error"] == "locked"
    unlocked = gateway.admin.post(f"/admin/v1/users/{username}/unlock")
    assert unlocked.status_code == 200
    assert unlocked.json()["locked"] is False
    assert start_login(gateway, username, platform="portal").json()["status"] == "ok"


def test_unknown_users_lock_the_same_way(gateway, username):
    # A lock must not tell an attacker which usernames exist.
    fail_password(gateway, username, 10)
    answer = start_login(gateway, username)
    assert answer.json()["error"] == "locked"


def device_cookie_of(answer) -> str:
    for header in answer.headers.get_list("set-cookie"):
        if header.startswith("gw_device="):
            assert "Path=/v1/login" in header and "HttpOnly" in header and "Secure" in header
            return header.split(";")[0].split("=", 1)[1]
    raise AssertionError(f"no device cookie in {answer.headers}")


def test_a_trusted_device_logs_in_while_guesses_lock_the_name(gateway, username):
    app = enrolled_user(gateway, username)
    first = start_login(gateway, username)
    done = verify(gateway, first.json()["login_id"], app.code())
    assert done.status_code == 200
    cookie = device_cookie_of(done)
    gateway.public.post("/v1/logout", headers={"Authorization": f"Bearer {done.json()['token']}"})
    fail_password(gateway, username, 10)
    assert start_login(gateway, username).json()["error"] == "locked"
    # The owner's device is counted apart: the guesses did not lock it.
    owner = gateway.public.post(
        "/v1/login",
        json={"username": username, "password": "secret123", "platform": "tws"},
        headers={"Cookie": f"gw_device={cookie}"},
    )
    assert owner.status_code == 200, owner.text
    assert "gw_device=" not in owner.headers.get("set-cookie", "")  # already trusted
    gateway.advance(30)
    assert verify(gateway, owner.json()["login_id"], app.code()).status_code == 200
    # A cookie made up by a client is no trust at all.
    forged = gateway.public.post(
        "/v1/login",
        json={"username": username, "password": "secret123", "platform": "tws"},
        headers={"Cookie": f"gw_device={username}.x.1.AAAAAAAAAAAAAAAAAAAAAA"},
    )
    assert forged.json()["error"] == "locked"
