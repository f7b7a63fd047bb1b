"""The command line as a client of the gateway: prompts, answers and their
errors, the gateway's clock, and ``login`` with every second factor the
gateway offers (DESIGN.md, "Factor and device contracts"), answered from a
device file, an option or a prompt."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SESSION_COOKIE = "gw_session"
OCRA_CARDS = ("dscplus", "platinum", "gold", "dsc")
CODE_GRIDS = ("scc", "online_card")
ASK = ""  # --temp-passcode without a value: ask for it


class NoInput(Exception):
    """A prompt found neither a terminal nor a line on standard input."""

    def __init__(self, prompt: str, hint: str) -> None:
        super().__init__(prompt)
        self.prompt = prompt.strip().rstrip(":")
        self.hint = hint


def ask(prompt: str, hint: str, *, secret: bool = False) -> str:
    """A line from the terminal (unechoed when ``secret``) or from standard
    input; the prompt goes to stderr, so stdout keeps only the results."""
    stdin = sys.stdin
    if secret and stdin is not None and stdin.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise NoInput(prompt, hint) from None
    print(prompt, end="", file=sys.stderr, flush=True)
    line = stdin.readline() if stdin is not None else ""
    if not line:
        raise NoInput(prompt, hint)
    return line.rstrip("\r\n")


def read_secret(given: str | None, prompt: str, hint: str) -> str:
    """An option's value; ``-`` reads a line of standard input, none asks."""
    if given == "-":
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line:
            raise NoInput(prompt, hint)
        return line.rstrip("\r\n")
    if given is None or given == ASK:
        return ask(prompt, hint, secret=True)
    return given


def unreachable(error: BaseException, args: argparse.Namespace) -> str | None:
    """What to say when the gateway could not be reached, or None when the
    error is something else."""
    if not isinstance(error, httpx.TransportError):
        return None
    url = error.request.url
    where = f"{url.scheme}://{url.netloc.decode()}"
    admin = getattr(args, "admin_url", None)
    if admin and admin.rstrip("/").startswith(where):
        choose = "--admin-url or GATEWAY_ADMIN_URL (the admin API)"
    else:
        choose = "--url or GATEWAY_URL (the client API)"
    reason = str(error) or type(error).__name__
    return (
        f"login-gateway: cannot reach the gateway at {where} ({reason}). "
        f"Is it running there? Another address: {choose}."
    )


def payload_of(response: httpx.Response) -> Any:
    """The JSON of an answer, error or not."""
    try:
        return response.json() if response.content else {}
    except ValueError:
        raise SystemExit(
            f"login-gateway: {response.request.url} answered {response.status_code} "
            "without JSON: is that the gateway?"
        ) from None


def answer_of(response: httpx.Response) -> Any:
    """The JSON of an answer; an error answer ends the command with its code
    and message."""
    payload = payload_of(response)
    if response.is_error:
        raise SystemExit(f"login-gateway: {payload.get('error')}: {payload.get('message')}")
    return payload


def gateway_now(args: argparse.Namespace) -> float:
    """The gateway's time: its test clock when it runs one, else this
    machine's. The test clock is read on the admin API, so only with the
    admin token, which is exactly where a test clock runs (tests and load
    tests own the admin API); a gateway without one answers 404."""
    token, url = getattr(args, "admin_token", None), getattr(args, "admin_url", None)
    if token and url:
        try:
            shown = httpx.get(
                url.rstrip("/") + "/admin/v1/clock",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        except httpx.TransportError:
            return time.time()  # no admin listener here: no test clock to follow
        if shown.status_code == 200:
            return float(shown.json()["now"])
    return time.time()


def totp_code(secret: str, at: float, digits: int = 6, step: int = 30) -> str:
    import _fastcore

    key, algorithm, digits, step = totp_parameters(secret, digits, step)
    return _fastcore.hotp(_fastcore.HmacKey(key, algorithm), int(at // step), digits)


def totp_parameters(text: str, digits: int, step: int) -> tuple[bytes, str, int, int]:
    """Secret, algorithm, digits and step from a base32 secret or an otpauth URI
    (whose parameters win over the options, as an authenticator app's would)."""
    from urllib.parse import parse_qs, urlsplit

    from gateway.auth.factors.totp import secret_from_base32

    algorithm = "sha1"
    if text.startswith("otpauth://"):
        query = {k: v[-1] for k, v in parse_qs(urlsplit(text).query).items()}
        text = query.get("secret", "")
        algorithm = query.get("algorithm", "SHA1").lower()
        digits = int(query.get("digits", digits))
        step = int(query.get("period", step))
    if step < 1:
        raise ValueError("the step must be at least 1 second")
    return secret_from_base32(text), algorithm, digits, step


class Login:
    """One login over the client API: its answers, its takeover, and the
    session cookie it ends with."""

    def __init__(self, client: httpx.Client, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.login_id = ""
        self.cookie: str | None = None

    def post(self, path: str, body: object) -> Any:
        answer = self.client.post(path, json=body)
        if SESSION_COOKIE in answer.cookies:
            self.cookie = answer.cookies[SESSION_COOKIE]
        if answer.status_code != 409:
            return answer_of(answer)
        payload = payload_of(answer)
        if self.args.takeover and payload.get("login_id"):
            return self.post(f"/v1/login/{payload['login_id']}/confirm", {"takeover": True})
        if payload.get("error") == "session_exists":
            started = time.strftime(
                "%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(payload.get("started_at", 0)))
            )
            raise SystemExit(
                f"login-gateway: session_exists: a trading session is already open on "
                f"{payload.get('platform')} since {started}. Run the same command with "
                "--takeover to end it and log in here."
            )
        return answer_of(answer)

    def challenge(self, method: str, **extra: str) -> Any:
        return self.post(f"/v1/login/{self.login_id}/challenge", {"method": method, **extra})

    def verify(self, method: str, response: str) -> Any:
        body = {"method": method, "response": response}
        return self.post(f"/v1/login/{self.login_id}/verify", body)


def login(args: argparse.Namespace) -> int:
    """The client side of a login: the password, the second factor the
    options name (or the only one offered, or the one asked for), then (if
    asked) the takeover of an open trading session."""
    password = read_secret(
        args.password,
        f"password for {args.username}: ",
        "give it with --password (--password - reads it from standard input)",
    )
    with httpx.Client(base_url=args.url, timeout=30) as client:
        attempt = Login(client, args)
        body = {"username": args.username, "password": password, "platform": args.platform}
        answer = attempt.post("/v1/login", body)
        if answer.get("status") == "second_factor":
            attempt.login_id = answer["login_id"]
            answer = second_factor(attempt, args, list(answer["methods"]))
    if answer.get("status") == "ok" and not answer.get("token") and attempt.cookie:
        # A portal session is cookie-only: the gateway keeps its token out of
        # the body, for a browser's script must not read it.
        answer["cookie"] = f"{SESSION_COOKIE}={attempt.cookie}"
        print(
            "a portal session has no token in its answer, only its cookie: send it as\n"
            f"  Cookie: {SESSION_COOKIE}={attempt.cookie}\n"
            "(with Sec-Fetch-Site: same-origin on requests that change something, as a "
            f"browser would), or the same value as\n  Authorization: Bearer {attempt.cookie}",
            file=sys.stderr,
        )
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("status") == "ok" else 1


def chosen_method(args: argparse.Namespace, methods: list[str]) -> str:
    """The method the options name, else the only one offered, else the one
    the user picks."""
    named = [
        method
        for method, given in (
            ("card", args.card),
            ("ibkey", args.ibkey),
            ("passkey", args.passkey),
            ("scc", args.code_card),
            ("online_card", args.online_card),
            ("temp_passcode", args.temp_passcode is not None),
            ("sms", args.sms or args.voice),
            ("totp", args.totp_secret),
            (args.method, args.method),
        )
        if given
    ]
    if len(set(named)) > 1:
        raise SystemExit(f"login-gateway: choose one second factor, not {' and '.join(named)}")
    if named == ["card"]:
        from gateway.simulators import read_device_file

        named = [str(read_device_file(args.card, "card")["type"])]
    if named:
        if named[0] not in methods:
            raise SystemExit(
                f"login-gateway: {args.username} cannot use {named[0]} here; "
                f"the gateway offers {', '.join(methods)}"
            )
        return named[0]
    if len(methods) == 1:
        return methods[0]
    while True:
        picked = ask(
            f"second factor ({', '.join(methods)}): ",
            "choose one with --method (or a device option: see login --help)",
        ).strip()
        if picked in methods:
            return picked


def second_factor(attempt: Login, args: argparse.Namespace, methods: list[str]) -> Any:
    from gateway.simulators import card_response, read_device_file

    method = chosen_method(args, methods)
    if method == "totp":
        if args.totp_secret:
            return attempt.verify(method, totp_code(args.totp_secret, gateway_now(args)))
        code = ask("code (totp): ", "give the authenticator's secret with --totp-secret")
        return attempt.verify(method, code.strip())
    if method == "sms":
        return text_message(attempt, args)
    if method == "temp_passcode":
        passcode = read_secret(
            args.temp_passcode,
            "temporary passcode: ",
            "give it with --temp-passcode CODE (- reads it from standard input)",
        )
        return attempt.verify(method, passcode.strip())
    if method in CODE_GRIDS:
        positions = attempt.challenge(method)["positions"]
        return attempt.verify(method, grid_answer(args, method, positions))
    if method in OCRA_CARDS:
        shown = attempt.challenge(method)["challenge"]
        if args.card:
            response = card_response(read_device_file(args.card, "card"), shown, args.pin)
        else:
            response = ask(
                f"the card's response to {shown}: ", "answer with the card's file: --card FILE"
            )
        return attempt.verify(method, response.strip())
    if method == "ibkey":
        return ib_key(attempt, args)
    if method == "passkey":
        return passkey(attempt, args)
    response = ask(f"response ({method}): ", f"{method} needs an answer typed in")
    return attempt.verify(method, response.strip())


def text_message(attempt: Login, args: argparse.Namespace) -> Any:
    """SMS: ask the gateway to send the code (a voice call with --voice);
    typing r sends another, v calls instead."""
    channel = "voice" if args.voice else "sms"
    hint = "an SMS code is typed in once it arrives: run login in a terminal"
    while True:
        sent = attempt.challenge("sms", channel=channel).get("sent") or channel
        how = "a voice call" if sent == "voice" else "SMS"
        print(f"a code is on its way by {how}", file=sys.stderr)
        while True:
            typed = ask("code (r: send another, v: call me instead): ", hint).strip()
            if typed.lower() in ("r", "v"):
                channel = "voice" if typed.lower() == "v" else channel
                break
            if typed:
                return attempt.verify("sms", typed)


def grid_answer(args: argparse.Namespace, method: str, positions: list[str]) -> str:
    from gateway.simulators import DeviceFileError, code_card_response, read_device_file

    wanted = " ".join(positions)
    if method == "scc" and args.code_card:
        return code_card_response(read_device_file(args.code_card, "scc"), positions)
    if method == "online_card" and args.online_card:
        try:
            return code_card_response({"card": online_card(args.online_card)}, positions)
        except (KeyError, TypeError) as exc:
            raise DeviceFileError(f"{args.online_card} is not an online card") from exc
    name = "code card" if method == "scc" else "online security card"
    typed = ask(f"the {name}'s codes at {wanted}: ", f"answer with the card's file ({method})")
    return typed.replace(" ", "")


def online_card(path: Path) -> dict[str, Any]:
    """The grid of an online card file: the JSON ``POST /v1/online-card``
    answers (``{"card": {...}, "valid_until": ...}``), or its ``card``."""
    from gateway.simulators import DeviceFileError

    try:
        printed = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DeviceFileError(f"cannot read {path}: {exc}") from None
    card = printed.get("card", printed) if isinstance(printed, dict) else None
    if not isinstance(card, dict) or not isinstance(card.get("codes"), dict):
        raise DeviceFileError(f"{path} is not an online card (the JSON /v1/online-card answers)")
    return card


def ib_key(attempt: Login, args: argparse.Namespace) -> Any:
    """The push: approved by the phone's file, or by the user on the phone
    (Enter), or answered offline with the phone's 8-digit response."""
    shown = attempt.challenge("ibkey")
    if not args.ibkey:
        typed = ask(
            f"approve on the phone, then press Enter (or type its response to "
            f"{shown.get('challenge')}): ",
            "approve with the phone's file: --ibkey FILE",
        )
        return attempt.verify("ibkey", typed.strip())
    from gateway.simulators import Phone, read_device_file

    phone = Phone(read_device_file(args.ibkey, "ibkey"))
    listed = answer_of(
        attempt.client.get(
            f"/v1/ibkey/{phone.device_id}/approvals",
            headers=phone.list_headers(gateway_now(args)),
        )
    )
    mine = [a for a in listed.get("approvals", []) if a["username"] == args.username]
    if not mine:
        raise SystemExit("login-gateway: the phone got no approval to answer")
    attempt.post(
        f"/v1/ibkey/{phone.device_id}/approvals/{mine[-1]['approval_id']}",
        phone.answer(mine[-1], "approve"),
    )
    return attempt.verify("ibkey", "")


def passkey(attempt: Login, args: argparse.Namespace) -> Any:
    if not args.passkey:
        raise SystemExit("login-gateway: a passkey login needs its file: --passkey FILE")
    from gateway.simulators import SoftAuthenticator, read_device_file, write_device_file

    authenticator = SoftAuthenticator.from_state(read_device_file(args.passkey, "passkey"))
    shown = attempt.challenge("passkey")
    try:
        assertion = authenticator.get(shown["options"], args.origin)
    except ValueError as exc:
        raise SystemExit(f"login-gateway: {exc}") from None
    write_device_file(args.passkey, authenticator.state())  # its counter moved on
    return attempt.verify("passkey", json.dumps(assertion))
