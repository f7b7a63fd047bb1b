"""The ``login-gateway`` command against a real gateway (real clock)."""

import json
import os
import signal
import subprocess

import httpx
import pytest

from tests.http.harness import ADMIN_TOKEN, GatewayProcess, gateway_command


@pytest.fixture
def live_gateway(tmp_path):
    gateway = GatewayProcess(tmp_path / "data", test_clock=False).start()
    yield gateway
    gateway.stop()


def cli(*args, gateway, stdin=None):
    env = {**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}
    if gateway is not None:
        env.update(GATEWAY_ADMIN_URL=gateway.admin_url, GATEWAY_URL=gateway.public_url)
    return subprocess.run(
        [*gateway_command(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def logout(gateway, token):
    answer = gateway.public.post("/v1/logout", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


def test_quick_start_from_nothing_to_a_session(live_gateway):
    added = cli(
        "user", "add", "alice", "--password", "-", gateway=live_gateway, stdin="secret123\n"
    )
    assert added.returncode == 0, added.stderr
    assert "created alice" in added.stdout
    enrolled = cli("totp", "enrol", "alice", gateway=live_gateway)
    assert enrolled.returncode == 0, enrolled.stderr
    secret = enrolled.stdout.strip().splitlines()[-1]
    assert "otpauth://totp/" in enrolled.stderr
    logged_in = cli(
        "login",
        "alice",
        "--password",
        "secret123",
        "--totp-secret",
        secret,
        gateway=live_gateway,
    )
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    session = json.loads(logged_in.stdout)
    assert session["status"] == "ok" and session["session"]["method"] == "totp"
    check = live_gateway.public.get(
        "/v1/session", headers={"Authorization": f"Bearer {session['token']}"}
    )
    assert check.status_code == 200
    # A second trading login is refused without --takeover, allowed with it.
    refused = cli(
        "login",
        "alice",
        "--password",
        "secret123",
        "--totp-secret",
        secret,
        "--platform",
        "mobile",
        gateway=live_gateway,
    )
    assert refused.returncode != 0
    assert "login_failed" in refused.stderr or "session_exists" in refused.stderr


def test_totp_code_matches_the_core(live_gateway):
    import base64

    import _fastcore

    secret = "JBSWY3DPEHPK3PXP"
    printed = cli("totp", "code", secret, "--at", "1700000000", gateway=live_gateway)
    assert printed.returncode == 0
    key = _fastcore.HmacKey(base64.b32decode(secret))
    assert printed.stdout.strip() == _fastcore.hotp(key, 1700000000 // 30)
    uri = f"otpauth://totp/x?secret={secret}&digits=8&period=60"
    printed = cli("totp", "code", uri, "--at", "1700000000", gateway=live_gateway)
    assert printed.stdout.strip() == _fastcore.hotp(key, 1700000000 // 60, 8)


def test_cli_errors_are_clear(live_gateway):
    missing = cli("totp", "enrol", "nobody", gateway=live_gateway)
    assert missing.returncode != 0
    assert "not_found" in missing.stderr
    bad = cli("totp", "code", "not base32!", gateway=live_gateway)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_version():
    printed = subprocess.run([*gateway_command(), "--version"], capture_output=True, text=True)
    assert printed.stdout.startswith("login-gateway ")


def test_port_in_use_is_a_clear_error(live_gateway, tmp_path):
    port = live_gateway.public_url.rsplit(":", 1)[1]
    second = subprocess.run(
        [
            *gateway_command(),
            "serve",
            "--data-dir",
            str(tmp_path / "other"),
            "--bind",
            f"127.0.0.1:{port}",
            "--admin-bind",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    assert second.returncode == 1
    assert "cannot serve" in second.stderr and "Traceback" not in second.stderr


def test_demo_serves_a_ready_user(tmp_path):
    import re
    import selectors
    import signal

    import httpx

    errors = (tmp_path / "demo.err").open("w+")
    demo = subprocess.Popen(
        [
            *gateway_command(),
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    try:
        selector = selectors.DefaultSelector()
        selector.register(demo.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=60), "demo did not start"
        # Audit lines (the demo user's creation) may come before the announcement.
        ready = {}
        while ready.get("event") != "listening":
            ready = json.loads(demo.stdout.readline())
        errors.seek(0)
        shown = errors.read()
        secret = re.search(r"TOTP secret: ([A-Z2-7]+)", shown).group(1)
        assert "█" in shown  # the QR code
        with httpx.Client(base_url=ready["public"][0]) as client:
            first = client.post("/v1/login", json={"username": "demo", "password": "demo1234"})
            assert first.json()["methods"] == ["totp"]
            code = cli("totp", "code", secret, gateway=None).stdout.strip()
            done = client.post(
                f"/v1/login/{first.json()['login_id']}/verify",
                json={"method": "totp", "response": code},
            )
            assert done.json()["status"] == "ok"
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)


def test_login_says_how_to_take_over_an_open_session(live_gateway):
    assert cli("user", "add", "carol", "--password", "-", gateway=live_gateway, stdin="secret123\n")
    first = cli("login", "carol", "--password", "secret123", gateway=live_gateway)
    assert first.returncode == 0, first.stderr
    refused = cli(
        "login", "carol", "--password", "secret123", "--platform", "mobile", gateway=live_gateway
    )
    assert refused.returncode != 0
    assert "session_exists" in refused.stderr and "on tws since" in refused.stderr
    assert "--takeover" in refused.stderr
    taken = cli(
        "login",
        "carol",
        "--password",
        "secret123",
        "--platform",
        "mobile",
        "--takeover",
        gateway=live_gateway,
    )
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["session"]["platform"] == "mobile"


def test_totp_enrol_prints_the_current_code(live_gateway):
    import base64
    import re
    import time

    import _fastcore

    assert cli("user", "add", "dave", "--password", "-", gateway=live_gateway, stdin="secret123\n")
    enrolled = cli("totp", "enrol", "dave", "--no-qr", gateway=live_gateway)
    assert enrolled.returncode == 0, enrolled.stderr
    secret = enrolled.stdout.strip().splitlines()[-1]
    shown = re.search(r"current code: (\d{6}) ", enrolled.stderr)
    assert shown, enrolled.stderr
    key = _fastcore.HmacKey(base64.b32decode(secret + "=" * (-len(secret) % 8)))
    step = int(time.time() // 30)
    # Printed a moment ago: this step's code, or the last one's at a boundary.
    assert shown.group(1) in {_fastcore.hotp(key, step), _fastcore.hotp(key, step - 1)}


def test_a_generated_admin_token_is_kept_across_restarts(tmp_path):
    gateway = GatewayProcess(tmp_path / "data", test_clock=False)
    try:
        token, first = _start_without_token(gateway)
        assert token is not None and "kept in " in first and "admin-token" in first
        gateway.stop()
        assert (tmp_path / "data" / "admin-token").read_text().strip() == token
        again, second = _start_without_token(gateway)
        assert again is None and "admin token: in " in second  # not printed again
        answer = httpx.get(
            gateway.admin_url + "/admin/v1/sessions", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
    finally:
        gateway.stop()


def _start_without_token(gateway):
    """Start with no GATEWAY_ADMIN_TOKEN: (the token it printed, if any, and
    everything it printed while starting)."""
    import re

    before = len(gateway.output)
    gateway.start(admin_token=None)
    printed = "".join(gateway.output[before:])
    found = re.search(r"admin token \(generated[^)]*\): (\S+)", printed)
    return (found.group(1) if found else None), printed


def test_demo_removes_its_data_when_it_stops(tmp_path):
    env = {**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "TMPDIR": str(tmp_path)}
    demo = subprocess.Popen(
        [*gateway_command(), "demo", "--bind", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        for line in demo.stdout:
            if '"listening"' in line:
                break
        made = [p for p in tmp_path.iterdir() if p.name.startswith("login-gateway-demo-")]
        assert len(made) == 1 and (made[0] / "gateway.sqlite3").exists()
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
    assert not made[0].exists()


@pytest.mark.parametrize("kind", ["dscplus", "dsc"])
def test_the_card_simulator_issues_answers_and_logs_in(live_gateway, tmp_path, kind):
    assert (
        cli("user", "add", "carol", "--password", "secret123", gateway=live_gateway).returncode == 0
    )
    card_file = tmp_path / "card.json"
    issued = cli(
        "device",
        "card",
        "issue",
        "carol",
        "--type",
        kind,
        "--file",
        str(card_file),
        gateway=live_gateway,
    )
    assert issued.returncode == 0, issued.stderr
    assert card_file.stat().st_mode & 0o777 == 0o600
    pin = issued.stdout.split("PIN (shown once): ")[1].split()[0]
    assert pin not in card_file.read_text()  # a card does not keep its PIN
    # The card's answer, by hand: a login screen's challenge, typed in.
    login = live_gateway.public.post(
        "/v1/login", json={"username": "carol", "password": "secret123", "platform": "tws"}
    ).json()
    shown = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": kind}
    ).json()["challenge"]
    answered = cli(
        "device",
        "card",
        "respond",
        shown,
        "--file",
        str(card_file),
        "--pin",
        "-",
        gateway=None,
        stdin=pin + "\n",
    )
    assert answered.returncode == 0, answered.stderr
    verified = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/verify",
        json={"method": kind, "response": answered.stdout.strip()},
    )
    assert verified.status_code == 200, verified.text
    logout(live_gateway, verified.json()["token"])
    # And the whole login through the command line.
    logged_in = cli(
        "login",
        "carol",
        "--password",
        "secret123",
        "--card",
        str(card_file),
        "--pin",
        pin,
        gateway=live_gateway,
    )
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    assert json.loads(logged_in.stdout)["session"]["method"] == kind


def test_the_card_simulator_explains_what_is_wrong(tmp_path):
    missing = cli(
        "device", "card", "respond", "123456", "--file", str(tmp_path / "x"), gateway=None
    )
    assert missing.returncode != 0 and "cannot read" in missing.stderr
    (tmp_path / "totp.json").write_text('{"device": "phone"}')
    wrong = cli(
        "device", "card", "respond", "123456", "--file", str(tmp_path / "totp.json"), gateway=None
    )
    assert "is not a card file" in wrong.stderr


def test_the_outbox_shows_what_was_sent(live_gateway):
    live_gateway.create_user("dave", phone="+15550100777")
    assert (
        live_gateway.admin.post("/admin/v1/users/dave/devices", json={"type": "sms"}).status_code
        == 201
    )
    login = live_gateway.public.post(
        "/v1/login", json={"username": "dave", "password": "secret123", "platform": "tws"}
    ).json()
    live_gateway.public.post(f"/v1/login/{login['login_id']}/challenge", json={"method": "sms"})
    listed = cli("outbox", "--to", "+15550100777", gateway=live_gateway)
    assert listed.returncode == 0, listed.stderr
    assert "\tsms\t+15550100777\tYour login code is" in listed.stdout
    code = cli("outbox", "--to", "+15550100777", "--code", gateway=live_gateway).stdout.strip()
    verified = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/verify", json={"method": "sms", "response": code}
    )
    assert verified.status_code == 200


def test_the_code_card_simulator(live_gateway, tmp_path):
    live_gateway.create_user("erin")
    card_file = tmp_path / "scc.json"
    issued = cli("device", "scc", "issue", "erin", "--file", str(card_file), gateway=live_gateway)
    assert issued.returncode == 0, issued.stderr
    assert issued.stdout.splitlines()[0].split() == list("ABCDEFGHIJ")
    assert card_file.stat().st_mode & 0o777 == 0o600
    printed = cli("device", "scc", "print", "--file", str(card_file), gateway=None)
    assert printed.stdout == issued.stdout
    codes = json.loads(card_file.read_text())["card"]["codes"]
    answered = cli("device", "scc", "respond", "c4", "H9", "--file", str(card_file), gateway=None)
    assert answered.stdout.strip() == codes["C4"] + codes["H9"]
    logged_in = cli(
        "login",
        "erin",
        "--password",
        "secret123",
        "--code-card",
        str(card_file),
        gateway=live_gateway,
    )
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    assert json.loads(logged_in.stdout)["session"]["method"] == "scc"


def test_the_ib_key_phone_simulator(live_gateway, tmp_path):
    live_gateway.create_user("frank", phone="+15550100888")
    phone_file = tmp_path / "phone.json"
    activated = cli(
        "device",
        "ibkey",
        "activate",
        "frank",
        "--file",
        str(phone_file),
        "--password",
        "secret123",
        "--pin",
        "1a2b",
        gateway=live_gateway,
    )
    assert activated.returncode == 0, activated.stderr
    assert phone_file.stat().st_mode & 0o777 == 0o600
    # A push: the login screen asks, the phone lists and approves.
    login = live_gateway.public.post(
        "/v1/login", json={"username": "frank", "password": "secret123", "platform": "tws"}
    ).json()
    shown = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "ibkey"}
    ).json()
    listed = cli("device", "ibkey", "approvals", "--file", str(phone_file), gateway=live_gateway)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])["username"] == "frank"
    approved = cli("device", "ibkey", "approve", "--file", str(phone_file), gateway=live_gateway)
    assert "approved the login of frank on tws" in approved.stdout
    done = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/verify", json={"method": "ibkey", "response": ""}
    )
    assert done.status_code == 200, done.text
    logout(live_gateway, done.json()["token"])
    # Offline: the challenge typed into the phone, its answer typed back.
    login = live_gateway.public.post(
        "/v1/login", json={"username": "frank", "password": "secret123", "platform": "tws"}
    ).json()
    shown = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/challenge", json={"method": "ibkey"}
    ).json()
    response = cli(
        "device",
        "ibkey",
        "respond",
        shown["challenge"],
        "--file",
        str(phone_file),
        "--pin",
        "1a2b",
        gateway=None,
    ).stdout.strip()
    done = live_gateway.public.post(
        f"/v1/login/{login['login_id']}/verify", json={"method": "ibkey", "response": response}
    )
    assert done.status_code == 200, done.text
    logout(live_gateway, done.json()["token"])
    # The whole push login from the command line; then a migration ends the old phone.
    logged_in = cli(
        "login",
        "frank",
        "--password",
        "secret123",
        "--ibkey",
        str(phone_file),
        gateway=live_gateway,
    )
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    new_file = tmp_path / "new-phone.json"
    migrated = cli(
        "device",
        "ibkey",
        "activate",
        "frank",
        "--file",
        str(new_file),
        "--password",
        "secret123",
        "--pin",
        "9z9z",
        gateway=live_gateway,
    )
    assert migrated.returncode == 0, migrated.stderr
    old = cli("device", "ibkey", "approvals", "--file", str(phone_file), gateway=live_gateway)
    assert old.returncode != 0 and "forbidden" in old.stderr


def test_the_passkey_simulator_registers_from_a_session_and_logs_in(live_gateway, tmp_path):
    live_gateway.create_user("pat")
    key_file = tmp_path / "passkey.json"
    without = cli("device", "passkey", "register", "--file", str(key_file), gateway=live_gateway)
    assert without.returncode != 0 and "--token" in without.stderr
    first = cli("login", "pat", "--password", "secret123", gateway=live_gateway)
    token = json.loads(first.stdout)["token"]  # no device yet: the password alone
    registered = cli(
        "device", "passkey", "register", "--file", str(key_file), "--token", "-",
        "--label", "laptop", gateway=live_gateway, stdin=token + "\n",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert "(laptop) registered" in registered.stdout
    assert key_file.stat().st_mode & 0o777 == 0o600
    logout(live_gateway, token)
    # Twice: the second login works only if the file kept the counter the
    # first one moved on (the gateway refuses a counter that does not rise).
    for count in (1, 2):
        logged_in = cli(
            "login", "pat", "--password", "secret123", "--passkey", str(key_file),
            gateway=live_gateway,
        )  # fmt: skip
        assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
        session = json.loads(logged_in.stdout)
        assert session["session"]["method"] == "passkey"
        assert json.loads(key_file.read_text())["credentials"][0]["count"] == count
        logout(live_gateway, session["token"])
