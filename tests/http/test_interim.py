"""Interim credentials over HTTP with the test clock: the temporary passcode
(2 days full, 8 more portal-only for printing the online card, then
nothing; never two in a row), the online security card (21 days), and the
reactivation that ends both at once."""

from tests.http.flows import bearer, enrolled_user, start_login

DAY = 86_400


def issue_passcode(gateway, username):
    return gateway.admin.post(f"/admin/v1/users/{username}/temporary-passcode")


def passcode_login(gateway, username, passcode, platform="tws"):
    login = start_login(gateway, username, platform=platform).json()
    assert "temp_passcode" in login["methods"], login
    return gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode},
    )


def test_a_temporary_passcode_over_its_ten_days(own_gateway, username):
    gateway = own_gateway.start()
    enrolled_user(gateway, username)
    issued = issue_passcode(gateway, username)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    passcode, now = body["passcode"], gateway.now()
    assert len(passcode) == 10 and passcode.isalnum() and passcode == passcode.upper()
    assert (body["full_until"], body["portal_until"]) == (now + 2 * DAY, now + 10 * DAY)
    # Day 0: full access, on a trading platform too; typed exactly or not at all.
    lower = passcode_login(gateway, username, passcode.lower())
    if passcode.lower() != passcode:
        assert lower.json()["error"] == "login_failed"
    day0 = passcode_login(gateway, username, passcode)
    assert day0.status_code == 200, day0.text
    assert day0.json()["session"]["method"] == "temp_passcode"
    gateway.public.post("/v1/logout", headers=bearer(day0.json()["token"]))
    # Day 2 + 1 s: no trading (the passcode is not even offered, and the
    # answer says why); a portal session that may only print the card.
    gateway.advance(2 * DAY + 1)
    trading = start_login(gateway, username)
    assert trading.status_code == 403 and trading.json()["error"] == "forbidden"
    assert "portal" in trading.json()["message"]
    portal = passcode_login(gateway, username, passcode, platform="portal")
    assert portal.status_code == 200, portal.text
    cookie = {"Cookie": f"gw_session={portal.cookies['gw_session']}"}
    info = gateway.public.get("/v1/session", headers=cookie).json()["session"]
    assert info["scope"] == "card_printing"
    printed = gateway.public.post("/v1/online-card", headers=cookie)
    assert printed.status_code == 201, printed.text
    for refused in (
        gateway.public.post("/v1/withdrawals/check", json={"amount": "1"}, headers=cookie),
        gateway.public.post("/v1/api-keys", json={"name": "x", "scopes": []}, headers=cookie),
        gateway.public.get("/v1/api-keys", headers=cookie),
        gateway.public.post("/v1/passkeys", json={}, headers=cookie),
        gateway.public.get("/v1/passkeys", headers=cookie),
        gateway.public.delete("/v1/passkeys/nosuchdevice", headers=cookie),
        gateway.public.get("/auth/verify", headers={**cookie, "X-Forwarded-Uri": "/"}),
    ):
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    # Day 10 + 1 s: the passcode is over and no longer offered; the card
    # printed on day 2 goes on.
    gateway.advance(8 * DAY)
    late = start_login(gateway, username, platform="portal")
    assert late.status_code == 200 and late.json()["methods"] == ["online_card"]


def test_a_passcode_between_days_2_and_10_is_offered_to_the_portal_alone(own_gateway, username):
    gateway = own_gateway.start()
    enrolled_user(gateway, username)
    passcode = issue_passcode(gateway, username).json()["passcode"]
    assert start_login(gateway, username).json()["methods"] == ["temp_passcode"]
    gateway.advance(2 * DAY - 1)
    begun = start_login(gateway, username).json()
    assert begun["methods"] == ["temp_passcode"]
    gateway.advance(1)
    assert start_login(gateway, username).json()["error"] == "forbidden"
    portal = start_login(gateway, username, platform="portal").json()
    assert portal["methods"] == ["temp_passcode"]
    # A trading login begun in the full days and answered after them is
    # held to the portal all the same.
    late = gateway.public.post(
        f"/v1/login/{begun['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode},
    )
    assert late.status_code == 403 and late.json()["error"] == "forbidden"
    gateway.advance(8 * DAY - 1)
    assert start_login(gateway, username, platform="portal").json()["methods"] == ["temp_passcode"]
    gateway.advance(1)
    assert start_login(gateway, username, platform="portal").json()["error"] == "login_failed"


def test_an_expired_online_card_is_no_longer_offered(own_gateway, username):
    gateway = own_gateway.start()
    enrolled_user(gateway, username)
    passcode = issue_passcode(gateway, username).json()["passcode"]
    portal = passcode_login(gateway, username, passcode, platform="portal")
    cookie = {"Cookie": f"gw_session={portal.cookies['gw_session']}"}
    gateway.public.post("/v1/online-card", headers=cookie)
    gateway.public.post("/v1/logout", headers=cookie)
    offered = start_login(gateway, username).json()["methods"]
    assert sorted(offered) == ["online_card", "temp_passcode"]
    gateway.advance(10 * DAY)  # the passcode is over; the card goes on
    assert start_login(gateway, username).json()["methods"] == ["online_card"]
    gateway.advance(11 * DAY - 1)
    assert start_login(gateway, username).json()["methods"] == ["online_card"]
    gateway.advance(1)
    late = start_login(gateway, username)
    assert late.status_code == 401 and late.json()["error"] == "login_failed"
    assert "expired" in late.json()["message"]


def test_never_two_temporary_passcodes_in_a_row(own_gateway, username):
    gateway = own_gateway.start()
    enrolled_user(gateway, username)
    assert issue_passcode(gateway, username).status_code == 201
    again = issue_passcode(gateway, username)
    assert again.status_code == 403 and again.json()["error"] == "forbidden"


def card_login(gateway, username, card):
    login = start_login(gateway, username).json()
    asked = gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "online_card"}
    ).json()["positions"]
    return gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "online_card", "response": "".join(card["codes"][p] for p in asked)},
    )


def test_the_online_card_lasts_21_days_and_reactivation_ends_both(own_gateway, username):
    gateway = own_gateway.start()
    app = enrolled_user(gateway, username)
    device_id = gateway.admin.get(f"/admin/v1/users/{username}").json()["devices"][0]
    passcode = issue_passcode(gateway, username).json()["passcode"]
    portal = passcode_login(gateway, username, passcode, platform="portal")
    cookie = {"Cookie": f"gw_session={portal.cookies['gw_session']}"}
    card = gateway.public.post("/v1/online-card", headers=cookie).json()
    assert card["valid_until"] == gateway.now() + 21 * DAY
    printed_page = gateway.public.post("/v1/online-card?format=png", headers=cookie)
    assert printed_page.headers["content-type"] == "image/png"
    card = gateway.public.post("/v1/online-card", headers=cookie).json()["card"]  # a reprint
    done = card_login(gateway, username, card)
    assert done.status_code == 200, done.text
    assert done.json()["session"]["method"] == "online_card"
    card_token = done.json()["token"]
    # Reactivating the TOTP device ends the passcode, the card and their sessions.
    reactivated = gateway.admin.post(
        f"/admin/v1/users/{username}/devices/{device_id.split(':')[1]}/reactivate"
    )
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["sessions_ended"] == 2
    assert gateway.public.get("/v1/session", headers=bearer(card_token)).status_code == 401
    assert gateway.public.get("/v1/session", headers=cookie).status_code == 401
    login = start_login(gateway, username).json()
    assert login["methods"] == ["totp"]
    # A new temporary passcode may be issued again after a reactivation.
    assert issue_passcode(gateway, username).status_code == 201
    del app


def test_an_online_card_is_refused_after_21_days(own_gateway, username):
    gateway = own_gateway.start()
    enrolled_user(gateway, username)
    passcode = issue_passcode(gateway, username).json()["passcode"]
    portal = passcode_login(gateway, username, passcode, platform="portal")
    cookie = {"Cookie": f"gw_session={portal.cookies['gw_session']}"}
    assert gateway.public.post("/v1/online-card", headers=cookie).status_code == 201
    gateway.public.post("/v1/logout", headers=cookie)
    gateway.advance(21 * DAY + 1)
    late = start_login(gateway, username)
    assert late.status_code == 401 and late.json()["error"] == "login_failed"


def test_the_user_reactivates_by_answering_with_the_device(own_gateway, username):
    from tests.http.test_cards import card_answer, enrol

    gateway = own_gateway.start()
    gateway.create_user(username)
    card = enrol(gateway, username, "dscplus")
    passcode = issue_passcode(gateway, username).json()["passcode"]
    session = passcode_login(gateway, username, passcode)
    token = session.json()["token"]
    url = f"/v1/devices/{card['device_id']}/reactivate"
    asked = gateway.public.post(url, json={}, headers=bearer(token)).json()
    wrong = gateway.public.post(url, json={"response": "00000000"}, headers=bearer(token))
    assert wrong.status_code == 401 and wrong.json()["error"] == "login_failed"
    assert gateway.admin.get(f"/admin/v1/users/{username}").json()["failures"] == 1
    asked = gateway.public.post(url, json={}, headers=bearer(token)).json()
    assert len(asked["challenge"]) == 6
    done = gateway.public.post(
        url, json={"response": card_answer(card, asked["challenge"])}, headers=bearer(token)
    )
    assert done.status_code == 200, done.text
    assert done.json()["sessions_ended"] == 1  # the passcode's own session too
    assert gateway.public.get("/v1/session", headers=bearer(token)).status_code == 401
    assert start_login(gateway, username).json()["methods"] == ["dscplus"]
