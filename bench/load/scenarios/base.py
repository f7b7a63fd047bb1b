"""What every scenario shares: the run context, timed requests under the
run's budget, and the client side of a login (password, TOTP, takeover)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from bench.load.http import (
    HttpClient,
    HttpResponse,
    TransportError,
    bearer,
    encode_request,
    error_code,
    json_request,
)
from bench.load.stats import OpStats, Recorder, RunBudget
from bench.load.target import Target
from bench.load.users import AdminApi, LoadUser, UserPool
from gateway.cli import PASSKEY_ORIGIN
from gateway.simulators import card_response

_now_ns = time.perf_counter_ns
_json = msgspec.json.Encoder()


class BudgetExhausted(Exception):
    """The run's duration or request count is used up: stop this worker."""


@dataclass
class RunOptions:
    users: int
    connections: int
    duration: float
    max_requests: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class RunContext:
    target: Target
    admin: AdminApi
    budget: RunBudget
    recorder: Recorder
    options: RunOptions
    clients: list[HttpClient] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # the scenario's own figures
    max_failures: int = 10  # the target's lockout.max_failures

    def client(self, source: str | None = None) -> HttpClient:
        """A new connection, watched by the run's watchdog and closed at its end."""
        client = HttpClient(self.target, source)
        self.clients.append(client)
        return client

    async def request(self, client: HttpClient, op: OpStats, raw: bytes) -> HttpResponse:
        """Send ``raw`` if the budget allows, and record the answer in ``op``.
        Raises ``BudgetExhausted``, or ``TransportError`` (already recorded)."""
        if not self.budget.take():
            raise BudgetExhausted()
        started = _now_ns()
        try:
            response = await client.send(raw)
        except TransportError as error:
            op.record_failure(error, (_now_ns() - started) // 1000)
            raise
        op.record_response(response, (_now_ns() - started) // 1000)
        return response


class Scenario:
    """A named load pattern. Subclasses set the class attributes and
    implement ``prepare`` (untimed set-up) and ``run`` (the measured part,
    which must return once ``ctx.budget`` is exhausted)."""

    name: ClassVar[str]
    description: ClassVar[str]
    default_users: ClassVar[int] = 200
    default_connections: ClassVar[int] = 32
    # What the scenario needs in the gateway's [rate_limits] beyond the
    # load-test profile (see servers.load_test_profile).
    rate_limits: ClassVar[Mapping[str, float]] = {}

    async def prepare(self, ctx: RunContext) -> None:
        pass

    async def run(self, ctx: RunContext) -> None:
        raise NotImplementedError

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        """The figures this scenario is run for (shown first in the report)."""
        return {}


# --- the client side of a login ----------------------------------------------------


@dataclass(eq=False)
class LoginOps:
    """The operations a login records: each request, and the whole
    transaction (password + TOTP, and the takeover confirmation if any)."""

    password: OpStats
    verify: OpStats
    confirm: OpStats
    full: OpStats
    challenge: OpStats

    @classmethod
    def named(cls, recorder: Recorder, prefix: str = "") -> LoginOps:
        return cls(
            recorder.op(prefix + "login"),
            recorder.op(prefix + "verify"),
            recorder.op(prefix + "confirm"),
            recorder.op(prefix + "full_login"),
            recorder.op(prefix + "challenge"),
        )


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    status: int  # of the last answer
    error: str | None = None  # the error code that ended it, None for a login
    token: str | None = None
    took_over: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


async def login(
    ctx: RunContext,
    client: HttpClient,
    user: LoadUser,
    pool: UserPool,
    ops: LoginOps,
    *,
    platform: str = "tws",
    takeover: bool = False,
    started_ns: int | None = None,
) -> LoginOutcome:
    """A full login: password, then the TOTP code of the pool's current step,
    then (on ``session_exists``, when ``takeover``) the takeover confirmation.
    The transaction is recorded in ``ops.full`` from ``started_ns`` (default:
    now) to its last answer."""
    target = ctx.target
    started = _now_ns() if started_ns is None else started_ns
    cookie = [("Cookie", f"gw_device={user.device_cookie}")] if user.device_cookie else []
    answer = await ctx.request(
        client,
        ops.password,
        json_request(
            target,
            "POST",
            "/v1/login",
            {"username": user.username, "password": user.password, "platform": platform},
            cookie,
        ),
    )
    outcome = await _after_password(ctx, client, user, pool, ops, answer, takeover)
    ops.full.record(outcome.status, (_now_ns() - started) // 1000, outcome.error)
    return outcome


async def _after_password(
    ctx: RunContext,
    client: HttpClient,
    user: LoadUser,
    pool: UserPool,
    ops: LoginOps,
    answer: HttpResponse,
    takeover: bool,
) -> LoginOutcome:
    if answer.status != 200:
        return LoginOutcome(answer.status, _code(answer))
    body = answer.json()
    if body.get("status") == "ok":  # no second factor enrolled
        return LoginOutcome(200, token=body.get("token"))
    login_id = body["login_id"]
    if user.phone is not None:
        return await _push_login(ctx, client, user, ops, login_id, pool.now)
    if user.passkey is not None:
        method = "passkey"
    elif user.card is not None:
        method = str(user.card["type"])
    else:
        method = "totp"
    if method == "totp":
        step = pool.step
        user.last_step = step  # sent once, the step is burnt whatever the answer
        response = user.code(step)
    else:
        shown = await ctx.request(
            client,
            ops.challenge,
            json_request(ctx.target, "POST", f"/v1/login/{login_id}/challenge", {"method": method}),
        )
        if shown.status != 200:
            return LoginOutcome(shown.status, _code(shown))
        if user.passkey is not None:
            # The browser hands the request options to the authenticator and
            # sends back its assertion, signed with the passkey's key.
            assertion = user.passkey.get(shown.json()["options"], PASSKEY_ORIGIN)
            response = _json.encode(assertion).decode()
        else:
            # The card's holder reads the challenge off the screen and types
            # the card's answer (the command-line tool's card simulator).
            response = card_response(user.card, shown.json()["challenge"], user.pin)
    answer = await ctx.request(
        client,
        ops.verify,
        json_request(
            ctx.target,
            "POST",
            f"/v1/login/{login_id}/verify",
            {"method": method, "response": response},
        ),
    )
    if answer.status == 200:
        if user.keeps_device and answer.device_cookie:
            user.device_cookie = answer.device_cookie
        return LoginOutcome(200, token=answer.json().get("token"))
    code = _code(answer)
    if code != "session_exists" or not takeover:
        return LoginOutcome(answer.status, code)
    answer = await ctx.request(
        client,
        ops.confirm,
        json_request(ctx.target, "POST", f"/v1/login/{login_id}/confirm", {"takeover": True}),
    )
    if answer.status == 200:
        return LoginOutcome(200, token=answer.json().get("token"), took_over=True)
    return LoginOutcome(answer.status, _code(answer))


async def _push_login(
    ctx: RunContext,
    client: HttpClient,
    user: LoadUser,
    ops: LoginOps,
    login_id: str,
    now: float,
) -> LoginOutcome:
    """An IB Key push: the login asks, the phone (the command-line tool's
    simulator, signing with its own key) lists its approvals and approves,
    the login completes. ``now``: the gateway's clock, which the phone's
    signed time must be near."""
    target, phone = ctx.target, user.phone
    shown = await ctx.request(
        client,
        ops.challenge,
        json_request(target, "POST", f"/v1/login/{login_id}/challenge", {"method": "ibkey"}),
    )
    if shown.status != 200:
        return LoginOutcome(shown.status, _code(shown))
    listed = await ctx.request(
        client,
        ctx.recorder.op("phone_list"),
        encode_request(
            target,
            "GET",
            f"/v1/ibkey/{phone.device_id}/approvals",
            headers=list(phone.list_headers(now).items()),
        ),
    )
    approvals = listed.json().get("approvals", []) if listed.status == 200 else []
    if not approvals:
        return LoginOutcome(listed.status, _code(listed) if listed.status != 200 else "no_push")
    approval = approvals[-1]
    answered = await ctx.request(
        client,
        ctx.recorder.op("phone_approve"),
        json_request(
            target,
            "POST",
            f"/v1/ibkey/{phone.device_id}/approvals/{approval['approval_id']}",
            phone.answer(approval, "approve"),
        ),
    )
    if answered.status != 200:
        return LoginOutcome(answered.status, _code(answered))
    answer = await ctx.request(
        client,
        ops.verify,
        json_request(
            target,
            "POST",
            f"/v1/login/{login_id}/verify",
            {"method": "ibkey", "response": ""},
        ),
    )
    if answer.status == 200:
        return LoginOutcome(200, token=answer.json().get("token"))
    return LoginOutcome(answer.status, _code(answer))


def _code(answer: HttpResponse) -> str:
    return error_code(answer) or f"http_{answer.status}"


async def logout(ctx: RunContext, client: HttpClient, op: OpStats, token: str) -> None:
    raw = encode_request(ctx.target, "POST", "/v1/logout", headers=[bearer(token)])
    await ctx.request(client, op, raw)


async def login_and_logout(
    ctx: RunContext,
    client: HttpClient,
    user: LoadUser,
    pool: UserPool,
    ops: LoginOps,
    started_ns: int | None = None,
) -> None:
    """A full login, then its logout, so the user's trading slot is free again."""
    outcome = await login(ctx, client, user, pool, ops, started_ns=started_ns)
    if outcome.token:
        await logout(ctx, client, ctx.recorder.op("logout"), outcome.token)
