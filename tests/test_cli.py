"""The ``login-gateway`` command against a real gateway (real clock, unless
a test says otherwise), and the README's commands as a new user types them."""

import json
import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.http.harness import ADMIN_TOKEN, GatewayProcess, TotpApp, gateway_command

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def live_gateway(tmp_path):
    gateway = GatewayProcess(tmp_path / "data", test_clock=False).start()
    yield gateway
    gateway.stop()


def cli_env(gateway, admin_token=ADMIN_TOKEN, **extra):
    env = {**os.environ, **extra}
    env.pop("GATEWAY_ADMIN_TOKEN", None)
    if admin_token is not None:
        env["GATEWAY_ADMIN_TOKEN"] = admin_token
    if gateway is not None:
        env.update(GATEWAY_ADMIN_URL=gateway.admin_url, GATEWAY_URL=gateway.public_url)
    return env


def cli(*args, gateway, stdin=None, admin_token=ADMIN_TOKEN, **extra_env):
    env = cli_env(gateway, admin_token, **extra_env)
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


@pytest.mark.parametrize("taken", ["public", "admin"])
def test_port_in_use_is_a_clear_error(live_gateway, tmp_path, taken):
    """It says which address is taken and how to choose others."""
    in_use = (
        live_gateway.public_url if taken == "public" else live_gateway.admin_url
    ).removeprefix("http://")
    public, admin = (in_use, "127.0.0.1:0") if taken == "public" else ("127.0.0.1:0", in_use)
    second = subprocess.run(
        [
            *gateway_command(),
            "serve",
            "--data-dir",
            str(tmp_path / "other"),
            "--bind",
            public,
            "--admin-bind",
            admin,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    assert second.returncode == 1
    assert "cannot serve" in second.stderr and "Traceback" not in second.stderr
    option = "--bind" if taken == "public" else "--admin-bind"
    assert f"{in_use} (the {taken} address, {option})" in second.stderr, second.stderr
    assert "127.0.0.1:0 (" not in second.stderr  # the free one is not blamed
    assert "--bind HOST:PORT" in second.stderr and "--admin-bind HOST:PORT" in second.stderr


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
        # A data directory that stays keeps its key file beside it: warned.
        assert "beside the database" in shown
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
    """...and its throw-away directory holds no key file: nothing to warn
    about."""
    env = {**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "TMPDIR": str(tmp_path)}
    env.pop("GATEWAY_MASTER_KEY", None)
    env.pop("GATEWAY_MASTER_KEY_FILE", None)
    errors = (tmp_path / "demo.err").open("w+")
    demo = subprocess.Popen(
        [*gateway_command(), "demo", "--bind", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=env,
    )
    try:
        for line in demo.stdout:
            if '"listening"' in line:
                break
        made = [p for p in tmp_path.iterdir() if p.name.startswith("login-gateway-demo-")]
        assert len(made) == 1 and (made[0] / "gateway.sqlite3").exists()
        assert not (made[0] / "master.key").exists()
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
    assert not made[0].exists()
    errors.seek(0)
    shown = errors.read()
    assert "TOTP secret" in shown and "master key" not in shown, shown


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


# --- every second factor from `login` ----------------------------------------


class Prompted:
    """A command that asks for input: wait for each prompt (on stderr), then
    type the answer."""

    def __init__(self, *args, gateway):
        self.process = subprocess.Popen(
            [*gateway_command(), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(gateway),
        )
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stderr, selectors.EVENT_READ)
        self.shown = b""
        self.read_up_to = 0

    def wait_for(self, prompt):
        while prompt.encode() not in self.shown[self.read_up_to :]:
            assert self.selector.select(timeout=60), f"no {prompt!r} in {self.shown!r}"
            more = os.read(self.process.stderr.fileno(), 4096)
            assert more, f"the command ended before asking {prompt!r}: {self.shown!r}"
            self.shown += more
        self.read_up_to = self.shown.index(prompt.encode(), self.read_up_to) + len(prompt)

    def type(self, line):
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def finish(self):
        self.process.stdin.close()
        out = self.process.stdout.read().decode()
        self.shown += self.process.stderr.read()
        self.process.wait(timeout=60)
        return self.process.returncode, out, self.shown.decode()


def sent_to(gateway, phone):
    answer = gateway.admin.get("/admin/v1/outbox", params={"to": phone})
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"]


SMS_PROMPT = "code (r: send another, v: call me instead): "


def test_login_has_an_sms_code_sent_again_and_called(live_gateway):
    phone = "+15550100999"
    live_gateway.create_user("sam", phone=phone)
    added = live_gateway.admin.post("/admin/v1/users/sam/devices", json={"type": "sms"})
    assert added.status_code == 201, added.text
    login = Prompted("login", "sam", "--password", "secret123", "--sms", gateway=live_gateway)
    login.wait_for(SMS_PROMPT)
    assert [m["channel"] for m in sent_to(live_gateway, phone)] == ["sms"]
    login.type("r")  # didn't get it: another text
    login.wait_for(SMS_PROMPT)
    login.type("v")  # still nothing: a call
    login.wait_for(SMS_PROMPT)
    sent = sent_to(live_gateway, phone)
    assert [m["channel"] for m in sent] == ["sms", "sms", "voice"]
    login.type(sent[-1]["code"])
    status, out, err = login.finish()
    assert status == 0, err
    assert json.loads(out)["session"]["method"] == "sms"
    # --voice: a call from the start.
    called = Prompted(
        "login", "sam", "--password", "secret123", "--voice", "--platform", "portal",
        gateway=live_gateway,
    )  # fmt: skip
    called.wait_for(SMS_PROMPT)
    sent = sent_to(live_gateway, phone)
    assert len(sent) == 4 and sent[-1]["channel"] == "voice"
    called.type(sent[-1]["code"])
    status, out, err = called.finish()
    assert status == 0, err
    assert json.loads(out)["session"]["method"] == "sms"


def test_temporary_passcode_portal_cookie_and_online_card(live_gateway, tmp_path):
    live_gateway.create_user("tina")
    assert live_gateway.admin.post("/admin/v1/users/tina/devices", json={"type": "totp"}).is_success
    issued = live_gateway.admin.post("/admin/v1/users/tina/temporary-passcode")
    assert issued.status_code == 201, issued.text
    passcode = issued.json()["passcode"]
    # The password from stdin, then the passcode typed at its prompt.
    portal = cli(
        "login", "tina", "--password", "-", "--platform", "portal", "--temp-passcode",
        gateway=live_gateway, stdin=f"secret123\n{passcode}\n",
    )  # fmt: skip
    assert portal.returncode == 0, portal.stdout + portal.stderr
    printed = json.loads(portal.stdout)
    assert printed["session"]["method"] == "temp_passcode"
    # A portal session is cookie-only: login prints the cookie, and how to send it.
    assert printed.get("token") is None
    cookie = printed["cookie"]
    value = cookie.removeprefix("gw_session=")
    assert cookie.startswith("gw_session=") and value
    assert f"Cookie: {cookie}" in portal.stderr
    assert f"Authorization: Bearer {value}" in portal.stderr
    assert live_gateway.public.get("/v1/session", headers={"Cookie": cookie}).status_code == 200
    card = live_gateway.public.post("/v1/online-card", headers={"Authorization": f"Bearer {value}"})
    assert card.status_code == 201, card.text
    card_file = tmp_path / "online-card.json"
    card_file.write_text(card.text)  # as POST /v1/online-card answers it
    logged_in = cli(
        "login", "tina", "--password", "secret123", "--online-card", str(card_file),
        gateway=live_gateway,
    )  # fmt: skip
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    assert json.loads(logged_in.stdout)["session"]["method"] == "online_card"
    # The passcode from an option, on a trading platform.
    logout(live_gateway, json.loads(logged_in.stdout)["token"])
    again = cli(
        "login", "tina", "--password", "secret123", "--temp-passcode", passcode,
        gateway=live_gateway,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["session"]["method"] == "temp_passcode"


# --- clear errors, never a traceback ------------------------------------------


def free_address():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    "command",
    [
        ["login", "nobody", "--password", "secret123"],
        ["device", "passkey", "register", "--file", "{tmp}/pk.json", "--token", "t"],
        ["user", "add", "nobody", "--password", "secret123"],
        ["totp", "enrol", "nobody"],
    ],
)
def test_a_gateway_that_is_down_is_a_clear_error(tmp_path, command):
    down = free_address()
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    ran = cli(*args, gateway=None, stdin="", GATEWAY_URL=down, GATEWAY_ADMIN_URL=down)
    assert ran.returncode == 2, ran.stderr
    assert f"cannot reach the gateway at {down}" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_prompt_with_no_terminal_is_a_clear_error(live_gateway, tmp_path):
    live_gateway.create_user("nora", phone="+15550100555")
    assert live_gateway.admin.post("/admin/v1/users/nora/devices", json={"type": "totp"}).is_success
    runs = {
        # --password - takes the first line; the code's prompt finds no more.
        "code (totp)": cli(
            "login", "nora", "--password", "-", gateway=live_gateway, stdin="secret123\n"
        ),
        "password for nora": cli("login", "nora", gateway=live_gateway, stdin=""),
        "activation token (SMS)": cli(
            "device", "ibkey", "activate", "nora", "--file", str(tmp_path / "phone.json"),
            "--password", "secret123", "--pin", "1a2b",
            gateway=live_gateway, stdin="", admin_token=None,
        ),
    }  # fmt: skip
    for prompt, ran in runs.items():
        assert ran.returncode == 2, (prompt, ran.stderr)
        assert f"no answer to '{prompt}'" in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr
    assert "--totp-secret" in runs["code (totp)"].stderr
    assert "--token" in runs["activation token (SMS)"].stderr


# --- the gateway's clock ------------------------------------------------------


@pytest.fixture
def clocked_gateway(tmp_path):
    gateway = GatewayProcess(tmp_path / "data", test_clock=True).start()
    yield gateway
    gateway.stop()


def test_codes_follow_the_gateways_test_clock(clocked_gateway, tmp_path):
    gateway = clocked_gateway
    gateway.advance(3 * 86_400)  # days away from this machine's clock
    gateway.create_user("olga", phone="+15550100444")
    enrolled = cli("totp", "enrol", "olga", "--no-qr", gateway=gateway)
    assert enrolled.returncode == 0, enrolled.stderr
    secret = enrolled.stdout.strip().splitlines()[-1]
    shown = re.search(r"current code: (\d{6}) ", enrolled.stderr).group(1)
    assert shown == TotpApp(gateway, secret).code()
    logged_in = cli(
        "login", "olga", "--password", "secret123", "--totp-secret", secret, gateway=gateway
    )
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    logout(gateway, json.loads(logged_in.stdout)["token"])
    # The IB Key phone signs its listing with the gateway's time too.
    phone = tmp_path / "phone.json"
    activated = cli(
        "device", "ibkey", "activate", "olga", "--file", str(phone), "--password", "secret123",
        "--pin", "1a2b", gateway=gateway,
    )  # fmt: skip
    assert activated.returncode == 0, activated.stderr
    pushed = cli("login", "olga", "--password", "secret123", "--ibkey", str(phone), gateway=gateway)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert json.loads(pushed.stdout)["session"]["method"] == "ibkey"


# --- what a new user reads: --help and the README ------------------------------


def test_help_names_the_environment_it_reads():
    for command in ([], ["login"]):
        shown = subprocess.run(
            [*gateway_command(), *command, "--help"], capture_output=True, text=True
        ).stdout
        for name in ("GATEWAY_URL", "GATEWAY_ADMIN_URL", "GATEWAY_ADMIN_TOKEN", "GATEWAY_TOKEN"):
            assert name in shown, (command, name)


def readme_section(title):
    """From the heading that starts with ``title`` to the next heading (a
    shell comment in a code block is not one)."""
    lines = (REPO / "README.md").read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    fenced, end = False, len(lines)
    for i in range(start + 1, len(lines)):
        fenced ^= lines[i].startswith("```")
        if not fenced and lines[i].startswith("#"):
            end = i
            break
    return "".join(lines[start:end])


def shell_blocks(section):
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.mark.parametrize("how", ["command line", "plain HTTP"])
def test_the_quick_start_runs_as_pasted(live_gateway, tmp_path, how):
    """The quick start's commands, pasted into bash as they are written (only
    the address and the path of the command differ)."""
    setup, command_line, plain_http = shell_blocks(readme_section("### Quick start"))
    (tmp_path / "gateway-data").mkdir()
    (tmp_path / "gateway-data" / "admin-token").write_text(ADMIN_TOKEN + "\n")
    script = setup + (command_line if how == "command line" else plain_http)
    script = script.replace(
        "localhost:8080", live_gateway.public_url.removeprefix("http://")
    ).replace(".venv/bin/login-gateway", shlex.join(gateway_command()))
    env = cli_env(live_gateway, admin_token=None)
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    answers = re.findall(r'^\{\s*"status".*', ran.stdout, re.M | re.S)
    final = json.loads(answers[-1])
    assert final["status"] == "ok" and final["session"]["user"] == "alice"


def hiding(tmp_path, *names):
    """A PATH with the commands of this one but ``names``, as on a machine
    without them."""
    shown = tmp_path / "bin"
    shown.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = shown / entry.name
            if entry.name in names or target.is_symlink() or not os.access(entry.path, os.X_OK):
                continue
            target.symlink_to(entry.path)
    return str(shown)


def missing_of(output):
    line = next(line for line in output.splitlines() if line.startswith("missing: "))
    return line.removeprefix("missing: ").split()


def test_the_test_command_installs_what_a_new_machine_lacks(tmp_path):
    test_command = readme_section("## Install and run the tests").split("```sh\n")[1]
    assert test_command.split("```")[0].strip() == "./scripts/test"
    script = [str(REPO / "scripts" / "test"), "--dry-run", "tests/edge", "-x"]
    here = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert here.returncode == 0, here.stderr
    lines = here.stdout.splitlines()
    assert lines[-1].endswith("-m pytest tests/edge -x")  # the arguments go to pytest
    if shutil.which("nginx") and shutil.which("caddy"):
        assert "nginx" not in here.stdout and "caddy" not in here.stdout
    # Without nginx and Caddy: both named, and the apt command that installs them.
    bare = subprocess.run(
        script,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": hiding(tmp_path, "nginx", "caddy")},
    )
    assert bare.returncode == 0, bare.stderr
    assert {"nginx", "caddy"} <= set(missing_of(bare.stdout))
    install = next(line for line in bare.stdout.splitlines() if line.startswith("would run: "))
    assert "apt-get update && apt-get install" in install
    assert " nginx " in install and " caddy" in install
