"""The ``login-gateway`` command: serve, demo, support actions and the TOTP
phone-app simulator."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.config import ConfigError, load_config

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_ADMIN_URL = "http://127.0.0.1:8081"
# The login page a browser with a passkey is on: an origin of the default [passkeys].
PASSKEY_ORIGIN = "http://localhost:8080"
DEMO_USER, DEMO_PASSWORD = "demo", "demo1234"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="login-gateway", description="Secure login gateway.")
    parser.add_argument("--version", action="version", version=f"login-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the gateway (embedded defaults: no config)")
    _serving_options(serve)

    demo = commands.add_parser("demo", help="create a demo user with TOTP, show its QR, serve")
    _serving_options(demo)

    user = commands.add_parser("user", help="support actions on users (admin API)")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--password", help="the password ('-' reads it from stdin; default: prompt)")
    add.add_argument("--account")
    add.add_argument("--email")
    add.add_argument("--phone")
    _admin_options(add)
    unlock = user_commands.add_parser("unlock", help="unlock a locked-out user")
    unlock.add_argument("username")
    _admin_options(unlock)

    login = commands.add_parser("login", help="log in as a client would; prints the session")
    login.add_argument("username")
    login.add_argument("--password", help="'-' reads it from stdin; default: prompt")
    login.add_argument("--platform", default="tws", help="portal, tws, desktop or mobile")
    login.add_argument("--totp-secret", help="compute the TOTP code (the phone app) from this")
    login.add_argument("--card", type=Path, help="answer with this security card's file")
    login.add_argument("--pin", help="the card's PIN")
    login.add_argument("--code-card", type=Path, help="answer with this code card's file")
    login.add_argument("--ibkey", type=Path, help="approve the push with this IB Key phone's file")
    login.add_argument("--passkey", type=Path, help="answer with this passkey's file")
    login.add_argument("--origin", default=PASSKEY_ORIGIN, help="the login page's origin (passkey)")
    login.add_argument("--takeover", action="store_true", help="take over an open session")
    login.add_argument(
        "--url", default=os.environ.get("GATEWAY_URL", DEFAULT_URL), help="the gateway"
    )

    totp = commands.add_parser("totp", help="authenticator app: enrol, and compute codes")
    totp_commands = totp.add_subparsers(dest="totp_command", metavar="ACTION", required=True)
    enrol = totp_commands.add_parser("enrol", help="enrol an authenticator app for a user")
    enrol.add_argument("username")
    enrol.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    _admin_options(enrol)
    code = totp_commands.add_parser("code", help="print the current code (the phone app)")
    code.add_argument("secret", help="base32 secret, or an otpauth:// URI")
    code.add_argument("--at", type=float, help="Unix time (default: now)")
    code.add_argument("--digits", type=int, default=6)
    code.add_argument("--step", type=int, default=30)
    outbox = commands.add_parser("outbox", help="messages sent to users (SMS, voice, ...)")
    outbox.add_argument("--to", help="only those to this phone or address")
    outbox.add_argument("--after", type=int, default=0, help="only those after this id")
    outbox.add_argument("--code", action="store_true", help="print only the last code")
    _admin_options(outbox)

    device = commands.add_parser("device", help="device simulators: security cards, code cards")
    device_commands = device.add_subparsers(dest="device_command", metavar="DEVICE", required=True)
    ibkey = device_commands.add_parser("ibkey", help="the IB Key phone app")
    ibkey_commands = ibkey.add_subparsers(dest="ibkey_command", metavar="ACTION", required=True)
    activate = ibkey_commands.add_parser(
        "activate", help="activate this phone (a new --file migrates to a new phone)"
    )
    activate.add_argument("username")
    activate.add_argument("--file", type=Path, required=True, help="the phone's state (0600)")
    activate.add_argument("--password", help="'-' reads it from stdin; default: prompt")
    activate.add_argument("--pin", required=True, help="4-6 letters or digits with a digit")
    activate.add_argument(
        "--token", help="the SMS token (default: read it from the outbox with the admin token)"
    )
    _phone_options(activate)
    _admin_options(activate)
    listing = ibkey_commands.add_parser("approvals", help="list the pending push approvals")
    listing.add_argument("--file", type=Path, required=True)
    _phone_options(listing)
    approve = ibkey_commands.add_parser("approve", help="approve (or --deny) a push")
    approve.add_argument("approval_id", nargs="?", help="default: the oldest pending")
    approve.add_argument("--file", type=Path, required=True)
    approve.add_argument("--deny", action="store_true")
    _phone_options(approve)
    offline = ibkey_commands.add_parser("respond", help="the offline response to a challenge")
    offline.add_argument("challenge", help="the 8 digits the login screen shows")
    offline.add_argument("--file", type=Path, required=True)
    offline.add_argument("--pin", required=True, help="the PIN ('-' reads it from stdin)")

    passkey = device_commands.add_parser("passkey", help="a passkey (software authenticator)")
    passkey_commands = passkey.add_subparsers(
        dest="passkey_command", metavar="ACTION", required=True
    )
    register = passkey_commands.add_parser(
        "register", help="register a passkey from a session (a new --file: a new authenticator)"
    )
    register.add_argument(
        "--file", type=Path, required=True, help="the authenticator's file (0600)"
    )
    register.add_argument(
        "--token",
        default=os.environ.get("GATEWAY_TOKEN"),
        help="the session's token, as `login` prints it ('-' reads it from stdin; "
        "default: $GATEWAY_TOKEN)",
    )
    register.add_argument("--label", help="a name for it (default: passkey)")
    register.add_argument("--origin", default=PASSKEY_ORIGIN, help="the page's origin")
    register.add_argument(
        "--url", default=os.environ.get("GATEWAY_URL", DEFAULT_URL), help="the gateway"
    )

    scc = device_commands.add_parser("scc", help="a Security Code Card (grid of codes)")
    scc_commands = scc.add_subparsers(dest="scc_command", metavar="ACTION", required=True)
    scc_issue = scc_commands.add_parser("issue", help="support issues a code card to a user")
    scc_issue.add_argument("username")
    scc_issue.add_argument("--file", type=Path, required=True, help="the card's file (0600)")
    _admin_options(scc_issue)
    scc_print = scc_commands.add_parser("print", help="show the grid")
    scc_print.add_argument("--file", type=Path, required=True)
    scc_answer = scc_commands.add_parser("respond", help="the codes at two positions")
    scc_answer.add_argument("positions", nargs=2, help="the two positions asked, e.g. C4 H9")
    scc_answer.add_argument("--file", type=Path, required=True)
    card = device_commands.add_parser("card", help="an OCRA security card (dscplus, dsc, ...)")
    card_commands = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    issue = card_commands.add_parser("issue", help="support issues a card to a user")
    issue.add_argument("username")
    issue.add_argument("--type", default="dscplus", choices=("dscplus", "platinum", "gold", "dsc"))
    issue.add_argument("--pin", help="the card's PIN (4 digits; default: made and shown once)")
    issue.add_argument("--file", type=Path, required=True, help="the card's state file (0600)")
    _admin_options(issue)
    answer = card_commands.add_parser("respond", help="the card's answer to a challenge")
    answer.add_argument("challenge", help="the 6 digits the login screen shows")
    answer.add_argument("--file", type=Path, required=True)
    answer.add_argument("--pin", help="the card's PIN ('-' reads it from stdin)")
    return parser


def _serving_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (default: built-in)")
    parser.add_argument("--data-dir", type=Path, help="where accounts and devices are kept")
    parser.add_argument("--bind", help="public listener, host:port (default 127.0.0.1:8080)")
    parser.add_argument("--admin-bind", help="admin listener, host:port (default 127.0.0.1:8081)")
    parser.add_argument(
        "--test-clock",
        action="store_true",
        help="start a clock that POST /admin/v1/clock moves (tests and load tests only)",
    )


def _phone_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default=os.environ.get("GATEWAY_URL", DEFAULT_URL), help="the gateway"
    )


def _admin_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin-url", default=os.environ.get("GATEWAY_ADMIN_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("GATEWAY_ADMIN_TOKEN"),
        help="default: $GATEWAY_ADMIN_TOKEN",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "demo"):
            return _serve(args)
        if args.command == "user":
            return _user(args)
        if args.command == "totp":
            return _totp(args)
        if args.command == "login":
            return _login(args)
        if args.command == "device":
            return _device(args)
        if args.command == "outbox":
            return _outbox(args)
    except ConfigError as exc:
        print(f"login-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.print_help()
    return 0


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    prepare = None
    data_dir = args.data_dir
    throwaway: Path | None = None
    if args.command == "demo":
        if data_dir is None:
            data_dir = throwaway = Path(tempfile.mkdtemp(prefix="login-gateway-demo-"))
        prepare = _demo_user
    try:
        return _run_serve(args, config, data_dir, prepare)
    finally:
        if throwaway is not None:  # the demo's data dies with it
            shutil.rmtree(throwaway, ignore_errors=True)


def _run_serve(
    args: argparse.Namespace,
    config: Any,
    data_dir: Path | None,
    prepare: Any,
) -> int:
    import trio

    from gateway.serve import serve
    from gateway.store.encryption import MasterKeyError

    try:
        trio.run(
            lambda: serve(
                config,
                data_dir=data_dir,
                bind=args.bind,
                admin_bind=args.admin_bind,
                test_clock=args.test_clock,
                prepare=prepare,
            )
        )
    except MasterKeyError as exc:
        print(f"login-gateway: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        error = _first_os_error(group)
        if error is None:
            raise
        print(f"login-gateway: cannot serve: {error.strerror or error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"login-gateway: cannot serve: {error}", file=sys.stderr)
        return 1
    return 0


def _first_os_error(error: BaseException) -> OSError | None:
    """The OSError (a port in use, say) inside nested exception groups."""
    if isinstance(error, OSError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first_os_error(inner)
            if found is not None:
                return found
    return None


async def _demo_user(runtime: Any) -> None:
    support = runtime.core.support
    if await runtime.store.get_user(DEMO_USER) is None:
        await support.create_user(DEMO_USER, DEMO_PASSWORD)
    enrolment = await support.enrol_totp(DEMO_USER)
    print(f"demo user: {DEMO_USER} / password: {DEMO_PASSWORD}", file=sys.stderr)
    _show_enrolment(enrolment.otpauth_uri, enrolment.secret_base32, qr=True)


def _show_enrolment(uri: str, secret: str, qr: bool) -> None:
    print(f"TOTP secret: {secret}\notpauth URI: {uri}", file=sys.stderr)
    if qr:
        import segno

        segno.make(uri, error="m").terminal(out=sys.stderr, compact=True)
    print(
        f"current code: {_current_code(secret)} (from this machine's clock)",
        file=sys.stderr,
        flush=True,
    )


def _admin(args: argparse.Namespace, method: str, path: str, body: object = None) -> Any:
    import httpx

    if not args.admin_token:
        raise SystemExit("login-gateway: set GATEWAY_ADMIN_TOKEN or pass --admin-token")
    try:
        response = httpx.request(
            method,
            args.admin_url.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {args.admin_token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise SystemExit(f"login-gateway: cannot reach {args.admin_url}: {exc}") from None
    answer = response.json() if response.content else {}
    if response.is_error:
        raise SystemExit(f"login-gateway: {answer.get('error')}: {answer.get('message')}")
    return answer


def _read_password(given: str | None, username: str) -> str:
    if given == "-":
        return sys.stdin.readline().rstrip("\n")
    if given is None:
        return getpass.getpass(f"password for {username}: ")
    return given


def _login(args: argparse.Namespace) -> int:
    """The client side of a login: password, then the TOTP code, then (if
    asked) the takeover of an open trading session."""
    import json
    import time

    import httpx

    password = _read_password(args.password, args.username)
    with httpx.Client(base_url=args.url, timeout=30) as client:

        def post(path: str, body: object) -> Any:
            answer = client.post(path, json=body)
            payload = answer.json()
            if answer.status_code == 409 and args.takeover and payload.get("login_id"):
                confirmed = client.post(
                    f"/v1/login/{payload['login_id']}/confirm", json={"takeover": True}
                )
                return confirmed.json()
            if answer.status_code == 409 and payload.get("error") == "session_exists":
                started = time.strftime(
                    "%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(payload.get("started_at", 0)))
                )
                raise SystemExit(
                    f"login-gateway: session_exists: a trading session is already open on "
                    f"{payload.get('platform')} since {started}. Run the same command with "
                    "--takeover to end it and log in here."
                )
            if answer.is_error:
                raise SystemExit(f"login-gateway: {payload.get('error')}: {payload.get('message')}")
            return payload

        body = {"username": args.username, "password": password, "platform": args.platform}
        answer = post("/v1/login", body)
        if answer.get("status") == "second_factor" and args.card:
            from gateway.simulators import card_response, read_device_file

            state = read_device_file(args.card, "card")
            login_id, method = answer["login_id"], state["type"]
            shown = post(f"/v1/login/{login_id}/challenge", {"method": method})
            response = card_response(state, shown["challenge"], args.pin)
            answer = post(f"/v1/login/{login_id}/verify", {"method": method, "response": response})
        elif answer.get("status") == "second_factor" and args.ibkey:
            from gateway.simulators import Phone, read_device_file

            phone = Phone(read_device_file(args.ibkey, "ibkey"))
            login_id = answer["login_id"]
            post(f"/v1/login/{login_id}/challenge", {"method": "ibkey"})
            listed = client.get(
                f"/v1/ibkey/{phone.device_id}/approvals", headers=phone.list_headers(time.time())
            ).json()
            mine = [a for a in listed.get("approvals", []) if a["username"] == args.username]
            if not mine:
                raise SystemExit("login-gateway: the phone got no approval to answer")
            post(
                f"/v1/ibkey/{phone.device_id}/approvals/{mine[-1]['approval_id']}",
                phone.answer(mine[-1], "approve"),
            )
            answer = post(f"/v1/login/{login_id}/verify", {"method": "ibkey", "response": ""})
        elif answer.get("status") == "second_factor" and args.passkey:
            from gateway.simulators import SoftAuthenticator, read_device_file, write_device_file

            authenticator = SoftAuthenticator.from_state(read_device_file(args.passkey, "passkey"))
            login_id = answer["login_id"]
            shown = post(f"/v1/login/{login_id}/challenge", {"method": "passkey"})
            try:
                assertion = authenticator.get(shown["options"], args.origin)
            except ValueError as exc:
                raise SystemExit(f"login-gateway: {exc}") from None
            write_device_file(args.passkey, authenticator.state())  # its counter moved on
            response = json.dumps(assertion)
            answer = post(
                f"/v1/login/{login_id}/verify", {"method": "passkey", "response": response}
            )
        elif answer.get("status") == "second_factor" and args.code_card:
            from gateway.simulators import code_card_response, read_device_file

            state = read_device_file(args.code_card, "scc")
            login_id = answer["login_id"]
            shown = post(f"/v1/login/{login_id}/challenge", {"method": "scc"})
            response = code_card_response(state, shown["positions"])
            answer = post(f"/v1/login/{login_id}/verify", {"method": "scc", "response": response})
        elif answer.get("status") == "second_factor":
            if args.totp_secret:
                code = _current_code(args.totp_secret)
            else:
                code = input(f"code ({', '.join(answer['methods'])}): ").strip()
            answer = post(
                f"/v1/login/{answer['login_id']}/verify", {"method": "totp", "response": code}
            )
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("status") == "ok" else 1


def _current_code(secret: str) -> str:
    import time

    import _fastcore

    namespace = argparse.Namespace(secret=secret, digits=6, step=30)
    key_bytes, algorithm, digits, step = _totp_parameters(namespace)
    return _fastcore.hotp(_fastcore.HmacKey(key_bytes, algorithm), int(time.time() // step), digits)


def _user(args: argparse.Namespace) -> int:
    if args.user_command == "add":
        password = _read_password(args.password, args.username)
        body = {"username": args.username, "password": password}
        body.update(
            {k: getattr(args, k) for k in ("account", "email", "phone") if getattr(args, k)}
        )
        user = _admin(args, "POST", "/admin/v1/users", body)
        print(f"created {user['username']} in account {user['account']}")
    else:
        _admin(args, "POST", f"/admin/v1/users/{args.username}/unlock")
        print(f"unlocked {args.username}")
    return 0


def _passkey(args: argparse.Namespace) -> int:
    """A browser with a software authenticator registering a passkey from a
    session (``POST /v1/passkeys``: options, then the credential)."""
    import httpx

    from gateway.simulators import SoftAuthenticator, read_device_file, write_device_file

    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    if not token:
        raise SystemExit("login-gateway: --token: the session's token (login prints it)")
    authenticator = (
        SoftAuthenticator.from_state(read_device_file(args.file, "passkey"))
        if args.file.exists()
        else SoftAuthenticator()
    )
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=args.url, timeout=30, headers=headers) as client:

        def post(body: object) -> Any:
            answer = client.post("/v1/passkeys", json=body)
            payload = answer.json()
            if answer.is_error:
                raise SystemExit(f"login-gateway: {payload.get('error')}: {payload.get('message')}")
            return payload

        options = post({})["options"]
        try:
            credential = authenticator.create(options, args.origin)
        except ValueError as exc:
            raise SystemExit(f"login-gateway: {exc}") from None
        added = post({"credential": credential, **({"label": args.label} if args.label else {})})
    write_device_file(args.file, authenticator.state())
    print(f"passkey {added['device_id']} ({added.get('label')}) registered")
    return 0


def _ibkey(args: argparse.Namespace) -> int:
    """The IB Key phone: it talks to the gateway's public API only (and, to
    read its SMS in a test setting, to the outbox)."""
    import json
    import time

    import httpx

    from gateway.simulators import DeviceFileError, Phone, read_device_file, write_device_file

    def call(method: str, path: str, **kw: Any) -> Any:
        try:
            answer = httpx.request(method, args.url.rstrip("/") + path, timeout=30, **kw)
        except httpx.HTTPError as exc:
            raise SystemExit(f"login-gateway: cannot reach {args.url}: {exc}") from None
        payload = answer.json() if answer.content else {}
        if answer.is_error:
            raise SystemExit(f"login-gateway: {payload.get('error')}: {payload.get('message')}")
        return payload

    if args.ibkey_command == "activate":
        password = _read_password(args.password, args.username)
        phone = Phone()
        started = call(
            "POST",
            "/v1/ibkey/activations",
            json={"username": args.username, "password": password},
        )
        token = args.token
        if token is None and args.admin_token:
            user = _admin(args, "GET", f"/admin/v1/users/{args.username}")
            from urllib.parse import urlencode

            query = urlencode({"to": user["phone"] or ""})
            sent = _admin(args, "GET", f"/admin/v1/outbox?{query}")["messages"]
            token = sent[-1]["code"] if sent else None
        if token is None:
            token = input("activation token (SMS): ").strip()
        done = call(
            "POST",
            f"/v1/ibkey/activations/{started['activation_id']}",
            json={"token": token, "public_key": phone.public_key, "pin": args.pin},
        )
        phone.activated(done)
        write_device_file(args.file, phone.data)
        print(f"IB Key {done['device_id']} active for {args.username}")
        return 0
    try:
        phone = Phone(read_device_file(args.file, "ibkey"))
    except DeviceFileError as exc:
        raise SystemExit(f"login-gateway: {exc}") from None
    if args.ibkey_command == "respond":
        pin = sys.stdin.readline().strip() if args.pin == "-" else args.pin
        print(phone.offline(args.challenge, pin))
        return 0
    pending = call(
        "GET",
        f"/v1/ibkey/{phone.device_id}/approvals",
        headers=phone.list_headers(time.time()),
    )["approvals"]
    if args.ibkey_command == "approvals":
        for approval in pending:
            print(json.dumps(phone.readable(approval)))  # a delivered passcode, opened
        return 0
    chosen = [a for a in pending if args.approval_id in (None, a["approval_id"])]
    if not chosen:
        raise SystemExit("login-gateway: no such pending approval")
    decision = "deny" if args.deny else "approve"
    approval = chosen[0]
    call(
        "POST",
        f"/v1/ibkey/{phone.device_id}/approvals/{approval['approval_id']}",
        json=phone.answer(approval, decision),
    )
    done = "approved" if decision == "approve" else "denied"
    print(f"{done} the login of {approval['username']} on {approval['platform']}")
    return 0


def _code_card(args: argparse.Namespace) -> int:
    from gateway.simulators import (
        code_card_response,
        code_card_state,
        code_card_text,
        read_device_file,
        write_device_file,
    )

    if args.scc_command == "issue":
        enrolment = _admin(
            args, "POST", f"/admin/v1/users/{args.username}/devices", {"type": "scc"}
        )
        state = code_card_state(enrolment)
        write_device_file(args.file, state)
        print(code_card_text(state))
        return 0
    state = read_device_file(args.file, "scc")
    if args.scc_command == "print":
        print(code_card_text(state))
    else:
        print(code_card_response(state, args.positions))
    return 0


def _outbox(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    query = {"after": args.after, **({"to": args.to} if args.to else {})}
    messages = _admin(args, "GET", "/admin/v1/outbox?" + urlencode(query))["messages"]
    if args.code:
        codes = [m["code"] for m in messages if m.get("code")]
        if not codes:
            raise SystemExit("login-gateway: no code in the outbox")
        print(codes[-1])
        return 0
    for m in messages:
        print(f"{m['id']}\t{m['channel']}\t{m['to']}\t{m['text']}")
    return 0


def _device(args: argparse.Namespace) -> int:
    from gateway.simulators import (
        DeviceFileError,
        card_response,
        card_state,
        read_device_file,
        write_device_file,
    )

    try:
        if args.device_command == "scc":
            return _code_card(args)
        if args.device_command == "ibkey":
            return _ibkey(args)
        if args.device_command == "passkey":
            return _passkey(args)
        if args.card_command == "issue":
            body = {"type": args.type, **({"pin": args.pin} if args.pin else {})}
            enrolment = _admin(args, "POST", f"/admin/v1/users/{args.username}/devices", body)
            write_device_file(args.file, card_state(enrolment))
            print(f"{enrolment['type']} card {enrolment['serial']} issued to {args.username}")
            if enrolment.get("pin"):
                print(f"PIN (shown once): {enrolment['pin']}")
            if enrolment.get("pin_checked") is False:
                print(enrolment["pin_note"])  # a dsc: the PIN is the card's own
            return 0
        state = read_device_file(args.file, "card")
        pin = sys.stdin.readline().strip() if args.pin == "-" else args.pin
        print(card_response(state, args.challenge, pin))
        return 0
    except DeviceFileError as exc:
        raise SystemExit(f"login-gateway: {exc}") from None


def _totp(args: argparse.Namespace) -> int:
    if args.totp_command == "enrol":
        device = _admin(args, "POST", f"/admin/v1/users/{args.username}/devices", {"type": "totp"})
        _show_enrolment(device["otpauth_uri"], device["secret"], qr=not args.no_qr)
        print(device["secret"])
        return 0
    import time

    import _fastcore

    try:
        secret, algorithm, digits, step = _totp_parameters(args)
    except ValueError as exc:
        raise SystemExit(f"login-gateway: {exc}") from None
    now = time.time() if args.at is None else args.at
    print(_fastcore.hotp(_fastcore.HmacKey(secret, algorithm), int(now // step), digits))
    return 0


def _totp_parameters(args: argparse.Namespace) -> tuple[bytes, str, int, int]:
    """Secret, algorithm, digits and step from a base32 secret or an otpauth URI
    (whose parameters win over the options, as an authenticator app's would)."""
    from urllib.parse import parse_qs, urlsplit

    from gateway.auth.factors.totp import secret_from_base32

    text, algorithm, digits, step = args.secret, "sha1", args.digits, args.step
    if text.startswith("otpauth://"):
        query = {k: v[-1] for k, v in parse_qs(urlsplit(text).query).items()}
        text = query.get("secret", "")
        algorithm = query.get("algorithm", "SHA1").lower()
        digits = int(query.get("digits", digits))
        step = int(query.get("period", step))
    if step < 1:
        raise ValueError("the step must be at least 1 second")
    return secret_from_base32(text), algorithm, digits, step


if __name__ == "__main__":
    sys.exit(main())
