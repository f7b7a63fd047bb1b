"""Login over real HTTP: password + TOTP, wrong and replayed codes, bad input."""

from tests.http.flows import (
    bearer,
    enrolled_user,
    login_with_totp,
    session_of,
    start_login,
    verify,
)


def test_login_with_totp_opens_a_session(gateway, username):
    app = enrolled_user(gateway, username)
    answer = login_with_totp(gateway, username, app)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok"
    assert body["session"]["user"] == username
    assert body["session"]["method"] == "totp"
    assert body["session"]["kind"] == "trading"
    token = body["token"]
    cookie = answer.headers["set-cookie"]
    assert f"gw_session={token};" in cookie
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict"):
        assert attribute in cookie
    checked = session_of(gateway, token)
    assert checked.status_code == 200
    assert checked.json()["session"]["id"] == body["session"]["id"]
    # The cookie works as well as the bearer header.
    by_cookie = gateway.public.get("/v1/session", headers={"Cookie": f"gw_session={token}"})
    assert by_cookie.status_code == 200


def test_session_id_is_not_the_token(gateway, username):
    app = enrolled_user(gateway, username)
    body = login_with_totp(gateway, username, app).json()
    assert body["token"] not in body["session"]["id"]


def test_portal_login_keeps_the_token_out_of_the_body(gateway, username):
    app = enrolled_user(gateway, username)
    answer = login_with_totp(gateway, username, app, platform="portal")
    assert answer.status_code == 200
    assert "token" not in answer.json()
    token = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert session_of(gateway, token).json()["session"]["kind"] == "portal"


def test_password_only_user_logs_in_at_once(gateway, username):
    gateway.create_user(username)
    answer = start_login(gateway, username)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["session"]["method"] == "none"


def test_wrong_code_is_login_failed(gateway, username):
    app = enrolled_user(gateway, username)
    login_id = start_login(gateway, username).json()["login_id"]
    wrong = str((int(app.code()) + 1) % 1_000_000).zfill(6)
    answer = verify(gateway, login_id, wrong)
    assert answer.status_code == 401
    assert answer.json() == {"error": "login_failed", "message": "Login failed"}
    # The login stays open for another try with the right code.
    assert verify(gateway, login_id, app.code()).status_code == 200


def test_code_with_spaces_is_login_failed(gateway, username):
    app = enrolled_user(gateway, username)
    login_id = start_login(gateway, username).json()["login_id"]
    code = app.code()
    answer = verify(gateway, login_id, code[:3] + " " + code[3:])
    assert answer.status_code == 401
    assert answer.json()["error"] == "login_failed"


def test_replayed_code_is_refused(gateway, username):
    app = enrolled_user(gateway, username)
    code = app.code()
    first = verify(gateway, start_login(gateway, username).json()["login_id"], code)
    assert first.status_code == 200
    gateway.public.post("/v1/logout", headers=bearer(first.json()["token"]))
    again = verify(gateway, start_login(gateway, username).json()["login_id"], code)
    assert again.status_code == 401
    assert again.json()["error"] == "login_failed"


def test_previous_and_next_step_codes_are_accepted(gateway, username):
    app = enrolled_user(gateway, username)
    login_id = start_login(gateway, username).json()["login_id"]
    assert verify(gateway, login_id, app.code(offset_steps=-2)).status_code == 401
    assert verify(gateway, login_id, app.code(offset_steps=-1)).status_code == 200
    gateway.public.post("/v1/logout", headers={})
    other = start_login(gateway, username, platform="portal").json()["login_id"]
    assert verify(gateway, other, app.code(offset_steps=1)).status_code == 200


def test_wrong_password_and_unknown_user_get_one_answer(gateway, username):
    gateway.create_user(username)
    wrong_password = start_login(gateway, username, password="wrong123")
    unknown_user = start_login(gateway, username + "x", password="wrong123")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert (
        wrong_password.json()
        == unknown_user.json()
        == {
            "error": "invalid_credentials",
            "message": "Invalid user name password combination",
        }
    )


def test_bad_character_is_refused_before_lookup(gateway, username):
    gateway.create_user(username)
    for bad in (username.upper(), username + "!", "a b", "é" + username, username + "."):
        answer = start_login(gateway, bad)
        assert answer.status_code == 400, bad
        assert answer.json() == {"error": "bad_character", "message": "BAD CHARACTER"}
    # None of them counted as a failed attempt of the real user.
    assert start_login(gateway, username, password="wrong123").status_code == 401
    status = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert status["locked"] is False
    assert status["failures"] == 1


def test_logout_ends_the_session(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username).json()["token"]
    answer = gateway.public.post("/v1/logout", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json() == {"status": "logged_out"}
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert session_of(gateway, token).json()["error"] == "unauthenticated"


def test_unknown_token_is_unauthenticated(gateway):
    for headers in ({}, bearer("nope"), bearer("x" * 10_000), {"Cookie": "gw_session="}):
        answer = gateway.public.get("/v1/session", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthenticated"


def test_unknown_login_id(gateway):
    answer = verify(gateway, "no-such-login", "123456")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert gateway.public.get("/v1/login/" + "x" * 5000).json()["error"] == "not_found"


def test_hot_path_answers_carry_a_length(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username).json()["token"]
    for answer in (session_of(gateway, token), session_of(gateway, "wrong")):
        assert int(answer.headers["content-length"]) == len(answer.content)
        assert "transfer-encoding" not in answer.headers
