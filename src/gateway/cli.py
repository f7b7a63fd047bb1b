"""The ``login-gateway`` command: serve, demo, support actions and the TOTP
phone-app simulator."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.cli_client import (
    ASK,
    NoInput,
    answer_of,
    ask,
    gateway_now,
    read_secret,
    totp_code,
    unreachable,
)
from gateway.config import ConfigError, load_config

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_ADMIN_URL = "http://127.0.0.1:8081"
# The login page a browser with a passkey is on: an origin of the default [passkeys].
PASSKEY_ORIGIN = "http://localhost:8080"
DEMO_USER, DEMO_PASSWORD = "demo", "demo1234"
ENVIRONMENT = f"""environment:
  GATEWAY_URL          the client API, for login and the device simulators
                       (default {DEFAULT_URL}; --url wins)
  GATEWAY_ADMIN_URL    the admin API, for support actions
                       (default {DEFAULT_ADMIN_URL}; --admin-url wins)
  GATEWAY_ADMIN_TOKEN  support's token: the one support actions send, and the
                       one serve accepts (default: made and kept in the data dir)
  GATEWAY_TOKEN        a session's token, for device passkey register (--token wins)
  GATEWAY_MASTER_KEY, GATEWAY_MASTER_KEY_FILE
                       serve: the key sealing device secrets, or its file
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="login-gateway",
        description="Secure login gateway.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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

    login = commands.add_parser(
        "login",
        help="log in as a client would; prints the session",
        description="Log in as a client would and print the session.\n\n"
        "The second factor is the one an option names, else the only one offered,\n"
        "else the one you pick; without a device file, login asks for the answer.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    login.add_argument("username")
    login.add_argument("--password", help="'-' reads it from stdin; default: prompt")
    login.add_argument("--platform", default="tws", help="portal, tws, desktop or mobile")
    login.add_argument("--method", help="the second factor to use, by its name (e.g. totp)")
    login.add_argument(
        "--totp-secret",
        help="compute the TOTP code (the phone app) from this, at the gateway's time "
        "(its test clock, read with the admin token, when it runs one)",
    )
    login.add_argument(
        "--sms", action="store_true", help="a code by SMS (at the prompt: r sends another)"
    )
    login.add_argument("--voice", action="store_true", help="the SMS code by a voice call")
    login.add_argument(
        "--temp-passcode",
        nargs="?",
        const=ASK,
        metavar="PASSCODE",
        help="the temporary passcode support issued ('-' reads it from stdin; none: prompt)",
    )
    login.add_argument(
        "--online-card",
        type=Path,
        metavar="FILE",
        help="answer with this online security card (the JSON POST /v1/online-card answers)",
    )
    login.add_argument("--card", type=Path, help="answer with this security card's file")
    login.add_argument("--pin", help="the card's PIN")
    login.add_argument("--code-card", type=Path, help="answer with this code card's file")
    login.add_argument("--ibkey", type=Path, help="approve the push with this IB Key phone's file")
    login.add_argument("--passkey", type=Path, help="answer with this passkey's file")
    login.add_argument("--origin", default=PASSKEY_ORIGIN, help="the login page's origin (passkey)")
    login.add_argument("--takeover", action="store_true", help="take over an open session")
    _phone_options(login)
    _admin_options(login)

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
    _admin_options(listing)
    approve = ibkey_commands.add_parser("approve", help="approve (or --deny) a push")
    approve.add_argument("approval_id", nargs="?", help="default: the oldest pending")
    approve.add_argument("--file", type=Path, required=True)
    approve.add_argument("--deny", action="store_true")
    _phone_options(approve)
    _admin_options(approve)
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
    _phone_options(register)

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
        "--url",
        default=os.environ.get("GATEWAY_URL", DEFAULT_URL),
        help=f"the gateway's client API (default: $GATEWAY_URL, else {DEFAULT_URL})",
    )


def _admin_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("GATEWAY_ADMIN_URL", DEFAULT_ADMIN_URL),
        help=f"the gateway's admin API (default: $GATEWAY_ADMIN_URL, else {DEFAULT_ADMIN_URL})",
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("GATEWAY_ADMIN_TOKEN"),
        help="support's token (default: $GATEWAY_ADMIN_TOKEN)",
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
    except NoInput as exc:
        print(
            f"login-gateway: no answer to '{exc.prompt}': there is no terminal to ask on and "
            f"standard input has no more lines; {exc.hint}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from gateway.simulators import DeviceFileError

        if isinstance(exc, DeviceFileError):
            print(f"login-gateway: {exc}", file=sys.stderr)
            return 1
        message = unreachable(exc, args)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2
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
            config = _throwaway_key(config)
        prepare = _demo_user
    try:
        return _run_serve(args, config, data_dir, prepare)
    finally:
        if throwaway is not None:  # the demo's data dies with it
            shutil.rmtree(throwaway, ignore_errors=True)


def _throwaway_key(config: Any) -> Any:
    """A master key that lives as long as the demo's data: nothing to keep
    apart from a directory that is removed at the end (so no warning that
    the key sits beside it)."""
    import secrets

    import msgspec

    if config.secrets.master_key or config.secrets.master_key_file:
        return config
    key = secrets.token_hex(32)
    return msgspec.structs.replace(
        config, secrets=msgspec.structs.replace(config.secrets, master_key=key)
    )


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
        print(_cannot_serve(args, config, error), file=sys.stderr)
        return 1
    except OSError as error:
        print(_cannot_serve(args, config, error), file=sys.stderr)
        return 1
    return 0


def _cannot_serve(args: argparse.Namespace, config: Any, error: OSError) -> str:
    import errno

    reason = error.strerror or str(error)
    if error.errno != errno.EADDRINUSE:
        return f"login-gateway: cannot serve: {reason}"
    listeners = [
        ("public", "--bind", args.bind or config.http.bind),
        ("admin", "--admin-bind", args.admin_bind or config.http.admin_bind),
        ("HTTP/2", "[http] h2_bind", config.http.h2_bind),
    ]
    taken = [(name, option, bind) for name, option, bind in listeners if bind and _in_use(bind)]
    shown = taken or [entry for entry in listeners if entry[2]]
    where = " and ".join(f"{bind} (the {name} address, {option})" for name, option, bind in shown)
    return (
        f"login-gateway: cannot serve: {reason}: {where}"
        f"{'' if taken else ', one of them'}. Another program (or gateway) listens there: "
        "choose free addresses with --bind HOST:PORT (public) and --admin-bind HOST:PORT "
        "(admin), e.g. --bind 127.0.0.1:9080 --admin-bind 127.0.0.1:9081"
    )


def _in_use(bind: str) -> bool:
    """Whether a listener could not bind ``host:port`` now (as the gateway's
    own listeners would, with SO_REUSEADDR)."""
    import socket

    from gateway.edge.server import split_bind

    try:
        host, port = split_bind(bind)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except ValueError:
        return False
    except OSError as error:
        import errno

        return error.errno == errno.EADDRINUSE
    return False


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
    now = runtime.clock.now()
    _show_enrolment(enrolment.otpauth_uri, enrolment.secret_base32, qr=True, now=now)


def _show_enrolment(uri: str, secret: str, qr: bool, now: float) -> None:
    print(f"TOTP secret: {secret}\notpauth URI: {uri}", file=sys.stderr)
    if qr:
        import segno

        segno.make(uri, error="m").terminal(out=sys.stderr, compact=True)
    print(
        f"current code: {totp_code(secret, now)} (at the gateway's time)",
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
    except httpx.TransportError:
        raise  # main() says where it could not reach
    except httpx.HTTPError as exc:
        raise SystemExit(f"login-gateway: cannot reach {args.admin_url}: {exc}") from None
    return answer_of(response)


def _read_password(given: str | None, username: str) -> str:
    return read_secret(
        given,
        f"password for {username}: ",
        "give it with --password (--password - reads it from standard input)",
    )


def _login(args: argparse.Namespace) -> int:
    from gateway.cli_client import login

    return login(args)


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

    token = args.token
    if token == "-":
        token = read_secret("-", "session token: ", "give it with --token").strip()
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
            return answer_of(client.post("/v1/passkeys", json=body))

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

    import httpx

    from gateway.simulators import Phone, read_device_file, write_device_file

    def call(method: str, path: str, **kw: Any) -> Any:
        return answer_of(httpx.request(method, args.url.rstrip("/") + path, timeout=30, **kw))

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
            token = ask(
                "activation token (SMS): ",
                "give it with --token, or set GATEWAY_ADMIN_TOKEN to read it from the outbox",
            ).strip()
        done = call(
            "POST",
            f"/v1/ibkey/activations/{started['activation_id']}",
            json={"token": token, "public_key": phone.public_key, "pin": args.pin},
        )
        phone.activated(done)
        write_device_file(args.file, phone.data)
        print(f"IB Key {done['device_id']} active for {args.username}")
        return 0
    phone = Phone(read_device_file(args.file, "ibkey"))
    if args.ibkey_command == "respond":
        pin = read_secret(args.pin, "PIN: ", "give it with --pin").strip()
        print(phone.offline(args.challenge, pin))
        return 0
    pending = call(
        "GET",
        f"/v1/ibkey/{phone.device_id}/approvals",
        headers=phone.list_headers(gateway_now(args)),
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
    """Device simulators; main() explains a device file that is not one."""
    from gateway.simulators import card_response, card_state, read_device_file, write_device_file

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
    pin = None if args.pin is None else read_secret(args.pin, "PIN: ", "give it with --pin")
    print(card_response(state, args.challenge, pin and pin.strip()))
    return 0


def _totp(args: argparse.Namespace) -> int:
    if args.totp_command == "enrol":
        device = _admin(args, "POST", f"/admin/v1/users/{args.username}/devices", {"type": "totp"})
        now = gateway_now(args)
        _show_enrolment(device["otpauth_uri"], device["secret"], qr=not args.no_qr, now=now)
        print(device["secret"])
        return 0
    import time

    now = time.time() if args.at is None else args.at
    try:
        print(totp_code(args.secret, now, args.digits, args.step))
    except ValueError as exc:
        raise SystemExit(f"login-gateway: {exc}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
