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
