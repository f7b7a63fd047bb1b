"""Scenarios made of full logins: login-storm and takeover-churn."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from bench.load.http import (
    HttpClient,
    TransportError,
    bearer,
    encode_request,
    error_code,
    json_request,
)
from bench.load.scenarios.base import (
    BudgetExhausted,
    LoginOps,
    RunContext,
    Scenario,
    login,
    login_and_logout,
)
from bench.load.stats import Recorder, RunBudget
from bench.load.users import PASSWORD, LoadUser, UserPool, provision, run_tag, usernames
from gateway.cli import PASSKEY_ORIGIN
from gateway.simulators import Phone, SoftAuthenticator

SETUP_SECONDS = 600.0  # bound of the untimed set-up logins


async def provision_pool(
    ctx: RunContext,
    keeps_device: Callable[[int], bool] = lambda index: False,
    card: str | None = None,
) -> UserPool:
    """``ctx.options.users`` new users with TOTP (or a security card of type
    ``card``), in a pool on the gateway clock; user ``i`` keeps its
    trusted-device cookie if ``keeps_device(i)``."""
    names = usernames("lt" + run_tag(), ctx.options.users)
    users = await provision(ctx.admin, names, card=card)
    for index, user in enumerate(users):
        user.keeps_device = keeps_device(index)
    return UserPool(users, ctx.admin, await ctx.admin.now())


def setup_context(ctx: RunContext) -> RunContext:
    """A context for untimed set-up requests: its own budget and recorder,
    so nothing of the set-up shows in the figures."""
    budget = RunBudget(SETUP_SECONDS, 10_000_000)
    budget.start()
    return dataclasses.replace(ctx, budget=budget, recorder=Recorder())


async def with_pooled_users(
    ctx: RunContext, pool: UserPool, step: Callable[[HttpClient, LoadUser], Awaitable[None]]
) -> None:
    """``ctx.options.connections`` workers, each on its own connection: take an
    idle user, run ``step``, give the user back; until the budget is spent."""

    async def worker() -> None:
        client = ctx.client()
        while not ctx.budget.exhausted:
            user = await pool.acquire()
            try:
                await step(client, user)
            except BudgetExhausted:
                return
            except TransportError:
                continue
            finally:
                pool.release(user)

    async with asyncio.TaskGroup() as group:
        for _ in range(ctx.options.connections):
            group.create_task(worker())


class LoginStorm(Scenario):
    name = "login-storm"
    description = (
        "full logins (password + TOTP) by many users over keep-alive connections, "
        "each followed by a logout; logins/s against the Argon2id hash-cost bound"
    )
    default_users = 200
    default_connections = 16

    async def prepare(self, ctx: RunContext) -> None:
        self.pool = await provision_pool(ctx)

    async def run(self, ctx: RunContext) -> None:
        ops = LoginOps.named(ctx.recorder)
        pool = self.pool

        async def login_and_out(client: HttpClient, user: LoadUser) -> None:
            await login_and_logout(ctx, client, user, pool, ops)

        await with_pooled_users(ctx, pool, login_and_out)

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        full = ctx.recorder.op("full_login")
        logins = full.statuses.get(200, 0)
        return {
            "logins": logins,
            "logins_per_s": logins / seconds if seconds else None,
            "failed_logins": full.count - logins,
            "clock_advances": self.pool.advances,
        }


class CardStorm(LoginStorm):
    name = "dscplus-storm"
    description = (
        "full logins (password, the 6-digit challenge, the DSC+ card's 8-digit OCRA answer "
        "computed by the command-line tool's card simulator) by many users, each followed "
        "by a logout; logins/s"
    )

    async def prepare(self, ctx: RunContext) -> None:
        self.pool = await provision_pool(ctx, card="dscplus")


class PushStorm(LoginStorm):
    name = "ibkey-storm"
    description = (
        "full IB Key push logins by many users: password, the push challenge, the phone "
        "(the command-line tool's simulator) lists its approvals and approves with a "
        "signature of its Ed25519 key, the login completes; then a logout; logins/s"
    )

    async def prepare(self, ctx: RunContext) -> None:
        names = usernames("ik" + run_tag(), ctx.options.users)
        setup = setup_context(ctx)
        client = setup.client()
        users: list[LoadUser] = []
        for index, name in enumerate(names):
            phone_number = f"+1555{index:07d}"
            await ctx.admin.expect(
                "POST",
                "/admin/v1/users",
                {"username": name, "password": PASSWORD, "phone": phone_number},
                status=201,
            )
            phone = Phone()
            started = await client.send(
                json_request(
                    ctx.target,
                    "POST",
                    "/v1/ibkey/activations",
                    {"username": name, "password": PASSWORD},
                )
            )
            sent = await ctx.admin.expect("GET", f"/admin/v1/outbox?to=%2B1555{index:07d}")
            token = sent["messages"][-1]["code"]
            done = await client.send(
                json_request(
                    ctx.target,
                    "POST",
                    f"/v1/ibkey/activations/{started.json()['activation_id']}",
                    {"token": token, "public_key": phone.public_key, "pin": "1a2b"},
                )
            )
            if done.status != 201:
                raise RuntimeError(f"IB Key activation of {name} failed: {done.body[:200]!r}")
            phone.activated(done.json())
            users.append(LoadUser(name, PASSWORD, None, phone=phone))
        client.close()
        self.pool = UserPool(users, ctx.admin, await ctx.admin.now())


class PasskeyStorm(LoginStorm):
    name = "passkey-storm"
    description = (
        "full passkey logins by many users: password, the passkey challenge (WebAuthn "
        "request options), the software authenticator's ES256 assertion (user verified, "
        "counter advancing), verify; then a logout; logins/s"
    )

    async def prepare(self, ctx: RunContext) -> None:
        """Each user registers a passkey from its first (password-only) session,
        as a browser would, through the public API."""
        names = usernames("pk" + run_tag(), ctx.options.users)
        users = await provision(ctx.admin, names, totp=False)
        setup = setup_context(ctx)
        client = setup.client()
        for user in users:
            first = await client.send(
                json_request(
                    ctx.target,
                    "POST",
                    "/v1/login",
                    {"username": user.username, "password": PASSWORD, "platform": "tws"},
                )
            )
            token = first.json()["token"]
            auth = [bearer(token)]
            started = await client.send(json_request(ctx.target, "POST", "/v1/passkeys", {}, auth))
            user.passkey = SoftAuthenticator()
            credential = user.passkey.create(started.json()["options"], PASSKEY_ORIGIN)
            done = await client.send(
                json_request(ctx.target, "POST", "/v1/passkeys", {"credential": credential}, auth)
            )
            if done.status != 201:
                raise RuntimeError(f"passkey of {user.username} refused: {done.body[:200]!r}")
            await client.send(json_request(ctx.target, "POST", "/v1/logout", {}, auth))
        client.close()
        self.pool = UserPool(users, ctx.admin, await ctx.admin.now())


class TakeoverChurn(Scenario):
    name = "takeover-churn"
    description = (
        "the same users logging in again and again from alternating platforms (tws, mobile): "
        "password, TOTP, session_exists, confirm takeover; the replaced session is checked "
        "to answer session_replaced"
    )
    default_users = 100
    default_connections = 16

    async def prepare(self, ctx: RunContext) -> None:
        self.pool = pool = await provision_pool(ctx)
        setup = setup_context(ctx)
        ops = LoginOps.named(setup.recorder)
        client = setup.client()
        for _ in range(ctx.options.users):  # one trading session each, on tws
            user = await pool.acquire()
            outcome = await login(setup, client, user, pool, ops, platform="tws")
            pool.release(user)
            if not outcome.ok:
                raise RuntimeError(f"set-up login of {user.username} failed: {outcome.error}")
            user.token, user.platform = outcome.token, "tws"
        client.close()

    async def run(self, ctx: RunContext) -> None:
        ops = LoginOps.named(ctx.recorder)
        check = ctx.recorder.op("replaced_check")
        self.replaced_ok = self.replaced_wrong = 0
        pool = self.pool

        async def take_over(client: HttpClient, user: LoadUser) -> None:
            platform = "mobile" if user.platform == "tws" else "tws"
            outcome = await login(ctx, client, user, pool, ops, platform=platform, takeover=True)
            if not outcome.ok:
                return
            old, user.token, user.platform = user.token, outcome.token, platform
            if old:
                raw = encode_request(ctx.target, "GET", "/v1/session", headers=[bearer(old)])
                answer = await ctx.request(client, check, raw)
                if error_code(answer) == "session_replaced":
                    self.replaced_ok += 1
                else:
                    self.replaced_wrong += 1

        await with_pooled_users(ctx, pool, take_over)

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        full = ctx.recorder.op("full_login")
        logins = full.statuses.get(200, 0)
        takeovers = ctx.recorder.op("confirm").statuses.get(200, 0)
        return {
            "logins": logins,
            "logins_per_s": logins / seconds if seconds else None,
            "takeovers": takeovers,
            "logins_without_takeover": logins - takeovers,
            "replaced_sessions_answering_session_replaced": self.replaced_ok,
            "replaced_sessions_answering_otherwise": self.replaced_wrong,
            "clock_advances": self.pool.advances,
        }
