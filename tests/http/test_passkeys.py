"""Passkeys over real HTTP with a software authenticator: registration from a
session, login with ``passkey`` as the second factor, and what must be
refused (a replayed assertion, a cloned authenticator's stale counter, no
user verification, another origin or relying party)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.encoding import b64u, from_b64u
from gateway.simulators import SoftAuthenticator
from tests.http.flows import bearer, login_with_totp, start_login
from tests.http.harness import TEST_CONFIG, GatewayProcess

ORIGIN = "http://localhost:8080"  # among the default [passkeys] origins


def full_session(gateway: GatewayProcess, username: str) -> dict[str, str]:
    """A user with an e-mail and a TOTP app, logged in with it to the portal
    (a browser: the session is in its cookie): the session's headers."""
    gateway.create_user(username, email=f"{username}@example.com")
    app = gateway.enrol_totp(username)
    logged_in = login_with_totp(gateway, username, app, platform="portal")
    assert logged_in.status_code == 200, logged_in.text
    return {"Cookie": f"gw_session={logged_in.cookies['gw_session']}"}


def register(
    gateway: GatewayProcess,
    headers: dict[str, str],
    authenticator: SoftAuthenticator,
    origin: str = ORIGIN,
    **extra: Any,
) -> Any:
    options = gateway.public.post("/v1/passkeys", json={}, headers=headers)
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json()["options"], origin)
    return gateway.public.post(
        "/v1/passkeys", json={"credential": credential, **extra}, headers=headers
    )


def passkey_challenge(gateway: GatewayProcess, username: str) -> tuple[str, dict[str, Any]]:
    login = start_login(gateway, username).json()
    assert "passkey" in login["methods"], login
    issued = gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "passkey"}
    )
    assert issued.status_code == 200, issued.text
    return login["login_id"], issued.json()["options"]


def answer(gateway: GatewayProcess, login_id: str, assertion: dict[str, Any] | str) -> Any:
    response = assertion if isinstance(assertion, str) else json.dumps(assertion)
    return gateway.public.post(
        f"/v1/login/{login_id}/verify", json={"method": "passkey", "response": response}
    )


def passkey_login(
    gateway: GatewayProcess, username: str, authenticator: SoftAuthenticator, origin: str = ORIGIN
) -> Any:
    login_id, options = passkey_challenge(gateway, username)
    return answer(gateway, login_id, authenticator.get(options, origin))


def test_register_a_passkey_then_log_in_with_it(gateway, username):
    headers = full_session(gateway, username)
    options = gateway.public.post("/v1/passkeys", json={}, headers=headers)
    assert options.status_code == 200, options.text
    created = options.json()["options"]
    assert created["rp"] == {"id": "localhost", "name": "Login Gateway"}
    assert created["user"]["name"] == username
    assert created["authenticatorSelection"]["userVerification"] == "required"
    assert created["authenticatorSelection"]["residentKey"] == "preferred"
    assert len(from_b64u(created["challenge"])) == 32
    authenticator = SoftAuthenticator()
    credential = authenticator.create(created, ORIGIN)
    # The credential JSON may come as an object or as a string.
    added = gateway.public.post(
        "/v1/passkeys",
        json={"credential": json.dumps(credential), "label": "laptop"},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    passkey = added.json()
    assert passkey["label"] == "laptop" and passkey["transports"] == ["internal", "hybrid"]
    listed = gateway.public.get("/v1/passkeys", headers=headers).json()["passkeys"]
    assert [p["device_id"] for p in listed] == [passkey["device_id"]]
    # The e-mail on record hears of it.
    outbox = gateway.admin.get("/admin/v1/outbox").json()["messages"]
    assert any("passkey (laptop) was added" in m["text"] for m in outbox)

    login_id, request_options = passkey_challenge(gateway, username)
    assert request_options["rpId"] == "localhost"
    assert request_options["userVerification"] == "required"
    assert [c["id"] for c in request_options["allowCredentials"]] == [credential["id"]]
    logged_in = answer(gateway, login_id, authenticator.get(request_options, ORIGIN))
    assert logged_in.status_code == 200, logged_in.text
    session = logged_in.json()["session"]
    assert session["method"] == "passkey"
    # The passkey tier: 1M a day and 1M over five business days.
    standing = gateway.public.post(
        "/v1/withdrawals/check",
        json={"amount": "1000000"},
        headers=bearer(logged_in.json()["token"]),
    ).json()
    assert standing["fits"] is True
    assert (standing["daily_limit"], standing["five_day_limit"]) == ("1000000.00", "1000000.00")


def test_a_replayed_assertion_is_refused(gateway, username):
    headers = full_session(gateway, username)
    authenticator = SoftAuthenticator()
    assert register(gateway, headers, authenticator).status_code == 201
    login_id, options = passkey_challenge(gateway, username)
    assertion = authenticator.get(options, ORIGIN)
    assert answer(gateway, login_id, assertion).status_code == 200
    # The same assertion, caught on the wire, against a new login: its
    # challenge is not this login's.
    gateway.public.post("/v1/logout", headers=headers)
    replay_login, _ = passkey_challenge(gateway, username)
    replayed = answer(gateway, replay_login, assertion)
    assert replayed.status_code == 401 and replayed.json()["error"] == "login_failed"
    # ...and it counted as a failed attempt.
    user = gateway.admin.get(f"/admin/v1/users/{username}").json()
    assert user["failures"] == 1


def test_a_cloned_authenticator_is_refused_by_its_stale_counter(gateway, username):
    headers = full_session(gateway, username)
    original = SoftAuthenticator()
    assert register(gateway, headers, original).status_code == 201
    clone = original.clone()
    for _ in range(2):  # the original moves its counter on: 1, 2
        ok = passkey_login(gateway, username, original)
        assert ok.status_code == 200, ok.text
        gateway.public.post("/v1/logout", headers=bearer(ok.json()["token"]))
    start = len(gateway.output)
    cloned = passkey_login(gateway, username, clone)  # a good signature, counter 1
    assert cloned.status_code == 401 and cloned.json()["error"] == "login_failed"
    assert cloned.json()["error"] == "login_failed"
    alarms = [json.loads(line) for line in gateway.lines_after(start, "factor_alarm")]
    assert [a["reason"] for a in alarms] == ["passkey_sign_count"]
    # The original goes on working.
    assert passkey_login(gateway, username, original).status_code == 200


def test_a_synced_passkey_without_a_counter_logs_in_every_time(gateway, username):
    headers = full_session(gateway, username)
    synced = SoftAuthenticator(synced=True)
    assert register(gateway, headers, synced).status_code == 201
    for _ in range(3):
        ok = passkey_login(gateway, username, synced)
        assert ok.status_code == 200, ok.text
        gateway.public.post("/v1/logout", headers=bearer(ok.json()["token"]))


def test_user_verification_is_required(gateway, username):
    headers = full_session(gateway, username)
    presence_only = SoftAuthenticator(verifies_user=False)
    refused = register(gateway, headers, presence_only)
    assert refused.status_code == 400 and refused.json()["error"] == "bad_request"
    assert "User verification" in refused.json()["message"]
    # Registered with verification, used without it.
    authenticator = SoftAuthenticator()
    assert register(gateway, headers, authenticator).status_code == 201
    authenticator.verifies_user = False
    failed = passkey_login(gateway, username, authenticator)
    assert failed.status_code == 401 and failed.json()["error"] == "login_failed"


def test_another_origin_or_relying_party_is_refused(gateway, username):
    headers = full_session(gateway, username)
    elsewhere = register(gateway, headers, SoftAuthenticator(), origin="https://evil.example")
    assert elsewhere.status_code == 400 and "origin" in elsewhere.json()["message"]
    authenticator = SoftAuthenticator()
    assert register(gateway, headers, authenticator).status_code == 201
    assert (
        passkey_login(gateway, username, authenticator, "https://evil.example").status_code == 401
    )
    # A phishing site's own relying party: the assertion names another rp id.
    login_id, options = passkey_challenge(gateway, username)
    for credential in authenticator.credentials.values():
        credential.rp_id = "evil.example"
    phished = answer(
        gateway, login_id, authenticator.get({**options, "rpId": "evil.example"}, ORIGIN)
    )
    assert phished.status_code == 401


def test_registration_needs_its_own_fresh_options(gateway, username):
    headers = full_session(gateway, username)
    authenticator = SoftAuthenticator()
    options = gateway.public.post("/v1/passkeys", json={}, headers=headers).json()["options"]
    credential = authenticator.create(options, ORIGIN)
    # Without options first (another session's, or none), nothing to finish.
    other = full_session(gateway, username + "b")
    orphan = gateway.public.post("/v1/passkeys", json={"credential": credential}, headers=other)
    assert orphan.status_code == 404 and orphan.json()["error"] == "not_found"
    # A credential made for older options does not match newer ones.
    gateway.public.post("/v1/passkeys", json={}, headers=headers)
    stale = gateway.public.post("/v1/passkeys", json={"credential": credential}, headers=headers)
    assert stale.status_code == 400 and "challenge" in stale.json()["message"]
    # The options are spent by a try: the same credential again has none left.
    again = gateway.public.post("/v1/passkeys", json={"credential": credential}, headers=headers)
    assert again.status_code == 404
    # The gateway excludes what the user has: one authenticator, one passkey.
    registered = register(gateway, headers, authenticator)
    assert registered.status_code == 201
    fresh = gateway.public.post("/v1/passkeys", json={}, headers=headers).json()["options"]
    excluded = [c["id"] for c in fresh["excludeCredentials"]]
    assert excluded == [registered.json()["credential_id"]] != [credential["id"]]
    # So the authenticator refuses to make a second passkey for the user.
    with pytest.raises(ValueError, match="excluded"):
        authenticator.create(fresh, ORIGIN)
    unauthenticated = gateway.public.post("/v1/passkeys", json={})
    assert unauthenticated.status_code == 401


def test_a_credential_id_belongs_to_one_account(gateway, username):
    first = full_session(gateway, username)
    authenticator = SoftAuthenticator()
    added = register(gateway, first, authenticator).json()
    taken = from_b64u(added["credential_id"])
    other = full_session(gateway, username + "o")
    options = gateway.public.post("/v1/passkeys", json={}, headers=other).json()["options"]
    credential = SoftAuthenticator().create(options, ORIGIN, credential_id=taken)
    refused = gateway.public.post("/v1/passkeys", json={"credential": credential}, headers=other)
    assert refused.status_code == 400 and "registered already" in refused.json()["message"]
    # Once the first account lets it go, the id is free again.
    gateway.public.delete(f"/v1/passkeys/{added['device_id']}", headers=first)
    options = gateway.public.post("/v1/passkeys", json={}, headers=other).json()["options"]
    credential = SoftAuthenticator().create(options, ORIGIN, credential_id=taken)
    freed = gateway.public.post("/v1/passkeys", json={"credential": credential}, headers=other)
    assert freed.status_code == 201, freed.text


def test_garbage_is_a_clear_error_or_a_failed_login(gateway, username):
    headers = full_session(gateway, username)
    authenticator = SoftAuthenticator()
    assert register(gateway, headers, authenticator).status_code == 201
    deep = "[" * 20_000 + "]" * 20_000
    nested = '{"a": ' + deep + "}"  # an object, as the field allows, nested past any parser
    deep_text = json.dumps("[" * 5_000 + "]" * 5_000)  # the same inside a JSON string
    shapes = ({}, "", "not json", {"rawId": "!!", "response": {}}, [1, 2], 7)
    bodies = [json.dumps({"credential": c}) for c in shapes]
    bodies += ['{"credential": ' + raw + "}" for raw in (deep, nested, deep_text)]
    for body in bodies:
        # Options waiting each time, so the credential itself is what is refused.
        assert gateway.public.post("/v1/passkeys", json={}, headers=headers).status_code == 200
        refused = gateway.public.post(
            "/v1/passkeys",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert refused.status_code == 400, (body[:60], refused.text)
        assert refused.json()["error"] == "bad_request"
    login_id, options = passkey_challenge(gateway, username)
    good = authenticator.get(options, ORIGIN)
    tampered = {**good, "response": {**good["response"], "signature": b64u(b"\x30\x00")}}
    for response in ("", "{}", "[" * 2000 + "]" * 2000, json.dumps(tampered), "x" * 4096):
        failed = answer(gateway, login_id, response)
        assert failed.status_code == 401 and failed.json()["error"] == "login_failed", failed.text
        gateway.public.post(f"/v1/login/{login_id}/challenge", json={"method": "passkey"})
    too_long = answer(gateway, login_id, "x" * 4097)
    assert too_long.status_code == 400 and too_long.json()["error"] == "bad_request"


def test_a_removed_passkey_is_no_longer_offered_and_its_sessions_end(gateway, username):
    headers = full_session(gateway, username)
    authenticator = SoftAuthenticator()
    device_id = register(gateway, headers, authenticator).json()["device_id"]
    opened = passkey_login(gateway, username, authenticator)  # a trading session
    assert opened.status_code == 200, opened.text
    other = full_session(gateway, username + "x")
    assert gateway.public.delete(f"/v1/passkeys/{device_id}", headers=other).status_code == 404
    removed = gateway.public.delete(f"/v1/passkeys/{device_id}", headers=headers)
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"device_id": device_id, "removed": True, "sessions_ended": 1}
    # The passkey's session ended with it; the TOTP session that removed it did not.
    ended = gateway.public.get("/v1/session", headers=bearer(opened.json()["token"]))
    assert ended.status_code == 401
    assert gateway.public.get("/v1/session", headers=headers).status_code == 200
    assert start_login(gateway, username).json()["methods"] == ["totp"]
    # Support removes a lost one the same way, ending what it opened.
    lost_key = SoftAuthenticator()
    lost = register(gateway, headers, lost_key).json()["device_id"]
    thief = passkey_login(gateway, username, lost_key)
    assert thief.status_code == 200, thief.text
    by_support = gateway.admin.delete(f"/admin/v1/users/{username}/devices/{lost}")
    assert by_support.status_code == 200
    assert by_support.json()["sessions_ended"] == 1
    assert (
        gateway.public.get("/v1/session", headers=bearer(thief.json()["token"])).status_code == 401
    )
    assert gateway.admin.delete(f"/admin/v1/users/{username}/devices/{lost}").status_code == 404
    assert start_login(gateway, username).json()["methods"] == ["totp"]


def test_interim_sessions_cannot_add_a_passkey_and_a_passkey_reactivates(gateway, username):
    headers = full_session(gateway, username)
    authenticator = SoftAuthenticator()
    device_id = register(gateway, headers, authenticator).json()["device_id"]
    passcode = gateway.admin.post(f"/admin/v1/users/{username}/temporary-passcode").json()
    login = start_login(gateway, username).json()
    assert login["methods"] == ["temp_passcode"]  # the passkey is suspended with the rest
    interim = gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": "temp_passcode", "response": passcode["passcode"]},
    )
    interim_headers = bearer(interim.json()["token"])
    refused = gateway.public.post("/v1/passkeys", json={}, headers=interim_headers)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    # The user proves the passkey is at hand again: it answers a challenge.
    proof = f"/v1/devices/{device_id}/reactivate"
    challenge = gateway.public.post(proof, json={}, headers=interim_headers)
    assert challenge.status_code == 200, challenge.text
    assertion = authenticator.get(challenge.json()["options"], ORIGIN)
    done = gateway.public.post(
        proof, json={"response": json.dumps(assertion)}, headers=interim_headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["sessions_ended"] == 1
    assert "passkey" in start_login(gateway, username).json()["methods"]


def test_relying_party_and_limits_come_from_config(own_gateway, username):
    config = TEST_CONFIG + (
        '\n[passkeys]\nrp_id = "example.com"\nrp_name = "Example Broker"\n'
        'origins = ["https://login.example.com"]\nmax_per_user = 1\n'
    )
    gateway = GatewayProcess(own_gateway.data_dir, config).start()
    try:
        headers = full_session(gateway, username)
        options = gateway.public.post("/v1/passkeys", json={}, headers=headers).json()["options"]
        assert options["rp"] == {"id": "example.com", "name": "Example Broker"}
        authenticator = SoftAuthenticator()
        credential = authenticator.create(options, "https://login.example.com")
        added = gateway.public.post(
            "/v1/passkeys", json={"credential": credential}, headers=headers
        )
        assert added.status_code == 201, added.text
        full = gateway.public.post("/v1/passkeys", json={}, headers=headers)
        assert full.status_code == 403 and full.json()["error"] == "forbidden"
        ok = passkey_login(gateway, username, authenticator, "https://login.example.com")
        assert ok.status_code == 200, ok.text
        # The default localhost origin is not among this gateway's.
        gateway.public.post("/v1/logout", headers=bearer(ok.json()["token"]))
        assert passkey_login(gateway, username, authenticator, ORIGIN).status_code == 401
    finally:
        gateway.stop()


def test_another_site_cannot_register_a_passkey_with_the_users_cookie(gateway, username):
    headers = full_session(gateway, username)
    for site in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        for body in ({}, {"credential": {"rawId": "AA", "response": {}}}):
            refused = gateway.public.post("/v1/passkeys", json=body, headers={**headers, **site})
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    listed = gateway.public.get("/v1/passkeys", headers=headers).json()["passkeys"]
    assert listed == []
