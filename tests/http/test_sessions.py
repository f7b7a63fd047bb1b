"""Single trading session with takeover, portal alongside, expiry, events."""

import json

import httpx

from tests.http.flows import bearer, enrolled_user, login_with_totp, session_of, start_login
from tests.http.harness import TEST_CONFIG


def test_second_trading_login_needs_a_takeover(gateway, username):
    app = enrolled_user(gateway, username)
    first = login_with_totp(gateway, username, app, platform="tws").json()
    gateway.advance(31)  # a fresh TOTP step for the second login
    second = start_login(gateway, username, platform="mobile").json()
    answer = gateway.public.post(
        f"/v1/login/{second['login_id']}/verify",
        json={"method": "totp", "response": app.code()},
    )
    assert answer.status_code == 409
    body = answer.json()
    assert body["error"] == "session_exists"
    assert body["message"] == "Another session already exists"
    assert body["platform"] == "tws"
    assert body["started_at"] == first["session"]["started_at"]
    # The old session still works until the takeover is confirmed.
    assert session_of(gateway, first["token"]).status_code == 200
    confirmed = gateway.public.post(
        f"/v1/login/{second['login_id']}/confirm", json={"takeover": True}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["session"]["platform"] == "mobile"
    replaced = session_of(gateway, first["token"])
    assert replaced.status_code == 401
    assert replaced.json()["error"] == "session_replaced"
    assert session_of(gateway, confirmed.json()["token"]).status_code == 200


def test_declined_takeover_keeps_the_old_session(gateway, username):
    gateway.create_user(username)
    first = start_login(gateway, username, platform="tws").json()
    second = start_login(gateway, username, platform="desktop")
    assert second.status_code == 409
    declined = gateway.public.post(
        f"/v1/login/{second.json()['login_id']}/confirm", json={"takeover": False}
    )
    assert declined.json()["status"] == "abandoned"
    assert session_of(gateway, first["token"]).status_code == 200


def test_portal_runs_alongside_trading(gateway, username):
    gateway.create_user(username)
    trading = start_login(gateway, username, platform="tws").json()
    portal = start_login(gateway, username, platform="portal")
    assert portal.status_code == 200
    token = portal.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert session_of(gateway, trading["token"]).status_code == 200
    assert session_of(gateway, token).status_code == 200
    # A trading portal is a trading session: it needs the takeover.
    trading_portal = start_login(gateway, username, platform="portal", trading=True)
    assert trading_portal.status_code == 409


def portal_token(response):
    assert response.status_code == 200, response.text
    return response.headers["set-cookie"].split(";")[0].split("=", 1)[1]


def test_a_laptop_and_a_phone_browser_both_stay_logged_in(gateway, username):
    gateway.create_user(username)
    start = len(gateway.output)
    laptop = portal_token(start_login(gateway, username, platform="portal"))
    phone = portal_token(start_login(gateway, username, platform="portal"))
    assert session_of(gateway, laptop).status_code == 200
    assert session_of(gateway, phone).status_code == 200
    listed = gateway.admin.get("/admin/v1/sessions", params={"user": username}).json()
    assert [s["platform"] for s in listed["sessions"]] == ["portal", "portal"]
    gateway.lines_after(start, '"login_ok"', count=2)
    assert not [line for line in gateway.output[start:] if '"takeover"' in line]


def test_past_the_cap_the_oldest_portal_session_ends(own_gateway, username):
    own_gateway.config_path.write_text(TEST_CONFIG + "\n[sessions]\nmax_portal_sessions = 2\n")
    gateway = own_gateway.start()
    gateway.create_user(username)
    trading = start_login(gateway, username, platform="tws").json()["token"]
    first = portal_token(start_login(gateway, username, platform="portal"))
    gateway.advance(1)
    second = portal_token(start_login(gateway, username, platform="portal"))
    start = len(gateway.output)
    gateway.advance(1)
    third = portal_token(start_login(gateway, username, platform="portal"))
    ended = session_of(gateway, first)
    assert ended.status_code == 401 and ended.json()["error"] == "unauthenticated"
    for kept in (second, third, trading):
        assert session_of(gateway, kept).status_code == 200
    (line,) = gateway.lines_after(start, '"session_ended"')
    event = json.loads(line)
    assert event["user"] == username and event["reason"] == "max_portal_sessions"
    assert event["platform"] == "portal"
    assert not [line for line in gateway.output[start:] if '"takeover"' in line]


def test_idle_session_expires_and_tickle_keeps_it(gateway, username):
    gateway.create_user(username)
    kept = start_login(gateway, username, platform="tws").json()["token"]
    idle = start_login(gateway, username, platform="portal")
    idle_token = idle.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    gateway.advance(600)
    tickled = gateway.public.post("/v1/session/tickle", headers=bearer(kept))
    assert tickled.status_code == 200
    gateway.advance(600)
    assert session_of(gateway, kept).status_code == 200
    expired = session_of(gateway, idle_token)
    assert expired.status_code == 401
    assert expired.json()["error"] == "session_expired"


def test_absolute_lifetime_ends_even_a_tickled_session(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username, platform="tws").json()["token"]
    for _ in range(100):  # 100 x 14.5 min > 24 h
        gateway.advance(870)
        answer = gateway.public.post("/v1/session/tickle", headers=bearer(token))
        if answer.status_code != 200:
            break
    assert answer.json()["error"] == "session_expired"


def test_support_lists_and_ends_sessions(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username, platform="tws").json()["token"]
    listed = gateway.admin.get("/admin/v1/sessions", params={"user": username}).json()
    assert [s["user"] for s in listed["sessions"]] == [username]
    session_id = listed["sessions"][0]["id"]
    assert gateway.admin.delete(f"/admin/v1/sessions/{session_id}").status_code == 200
    assert session_of(gateway, token).json()["error"] == "unauthenticated"
    assert gateway.admin.delete(f"/admin/v1/sessions/{session_id}").status_code == 404


def read_events(stream: httpx.Response) -> list[str]:
    return [line for line in stream.iter_lines() if line and not line.startswith(":")]


def test_event_stream_announces_takeover_and_closes(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username, platform="tws").json()["token"]
    with gateway.public.stream("GET", "/v1/session/events", headers=bearer(token)) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        second = start_login(gateway, username, platform="desktop").json()
        gateway.public.post(f"/v1/login/{second['login_id']}/confirm", json={"takeover": True})
        rest = [line for line in lines if line and not line.startswith(":")]
    assert rest[0] == "event: replaced"
    assert rest[1].startswith("data: ") and '"replaced"' in rest[1]
    assert len(rest) == 2  # and then the stream closed


def test_event_stream_announces_expiry(gateway, username):
    gateway.create_user(username)
    token = start_login(gateway, username, platform="tws").json()["token"]
    with gateway.public.stream("GET", "/v1/session/events", headers=bearer(token)) as stream:
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        gateway.advance(901)
        rest = [line for line in lines if line and not line.startswith(":")]
    assert rest[0] == "event: expired"


def test_event_stream_needs_a_session(gateway):
    answer = gateway.public.get("/v1/session/events", headers=bearer("nope"))
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"
