"""Load-test users: provisioned through the admin API, each with a TOTP
device, and the authenticator app that computes their codes on the gateway's
(test) clock.

A TOTP step is accepted once per user (replay protection), so a user logs in
at most once per 30-second step. ``UserPool`` hands out users that still have
an unused step and, when every idle user has spent the current one, moves the
test clock on by one step (``POST /admin/v1/clock``) instead of waiting.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import string
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import _fastcore
from bench.load.http import HttpClient, HttpResponse, bearer, encode_request, json_request
from bench.load.target import Target
from gateway.simulators import card_state

PASSWORD = "loadtest1"  # meets the policy: letters and a digit
TOTP_STEP = 30
PROVISION_CONNECTIONS = 8


class AdminError(RuntimeError):
    pass


class AdminApi:
    """The few support actions a load run needs, over the generator's client."""

    def __init__(self, target: Target, token: str, connections: int = PROVISION_CONNECTIONS):
        self.target = target
        self._auth = bearer(token)
        self._idle: deque[HttpClient] = deque(HttpClient(target) for _ in range(connections))
        self._free = asyncio.Semaphore(connections)
        self.test_clock: bool | None = None

    async def call(self, method: str, path: str, payload: object = None) -> HttpResponse:
        if payload is None:
            raw = encode_request(self.target, method, path, headers=[self._auth])
        else:
            raw = json_request(self.target, method, path, payload, headers=[self._auth])
        async with self._free:
            client = self._idle.popleft()
            try:
                return await client.send(raw)
            finally:
                self._idle.append(client)

    async def expect(
        self, method: str, path: str, payload: object = None, status: int = 200
    ) -> Any:
        response = await self.call(method, path, payload)
        if response.status != status:
            raise AdminError(f"{method} {path}: {response.status} {response.body[:300]!r}")
        return response.json()

    async def create_user(self, username: str, password: str) -> None:
        body = {"username": username, "password": password}
        await self.expect("POST", "/admin/v1/users", body, status=201)

    async def enrol_totp(self, username: str) -> str:
        path = f"/admin/v1/users/{username}/devices"
        answer = await self.expect("POST", path, {"type": "totp"}, status=201)
        return str(answer["secret"])

    async def user(self, username: str) -> dict[str, Any]:
        return dict(await self.expect("GET", f"/admin/v1/users/{username}"))

    async def now(self) -> float:
        """The gateway's time: its test clock, or this machine's clock when
        the target runs without one."""
        if self.test_clock is not False:
            response = await self.call("GET", "/admin/v1/clock")
            if response.status == 200:
                self.test_clock = True
                return float(response.json()["now"])
            self.test_clock = False
        return time.time()

    async def advance(self, seconds: float) -> float:
        answer = await self.expect("POST", "/admin/v1/clock", {"advance": seconds})
        return float(answer["now"])

    def close(self) -> None:
        for client in self._idle:
            client.close()


@dataclass(eq=False, slots=True)
class LoadUser:
    username: str
    password: str
    key: Any = field(repr=False)  # _fastcore.HmacKey of the TOTP secret
    last_step: int = -1  # the last TOTP step this user logged in with
    platform: str = "tws"
    token: str | None = field(default=None, repr=False)
    # Keeps the trusted-device cookie its logins are given and sends it with
    # every login after (SPEC 3), as a browser or an app would.
    keeps_device: bool = False
    device_cookie: str | None = field(default=None, repr=False)
    # A security card instead of TOTP (its state file's contents) and its PIN.
    card: dict[str, Any] | None = field(default=None, repr=False)
    pin: str | None = field(default=None, repr=False)
    # An IB Key phone (gateway.simulators.Phone) instead of TOTP.
    phone: Any = field(default=None, repr=False)
    # A passkey (gateway.simulators.SoftAuthenticator) instead of TOTP.
    passkey: Any = field(default=None, repr=False)

    def code(self, step: int) -> str:
        return str(_fastcore.hotp(self.key, step))


def hmac_key(secret_base32: str) -> Any:
    padded = secret_base32 + "=" * (-len(secret_base32) % 8)
    return _fastcore.HmacKey(base64.b32decode(padded))


def run_tag() -> str:
    """A short random tag, so users of two runs against one target never clash."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))


def usernames(prefix: str, count: int) -> list[str]:
    """``count`` valid usernames (lower-case letters and digits only)."""
    return [f"{prefix}u{i:05d}" for i in range(count)]


async def provision(
    admin: AdminApi, names: list[str], totp: bool = True, card: str | None = None
) -> list[LoadUser]:
    """Create ``names`` (each with a TOTP device unless ``totp`` is False, or
    with a security card of type ``card`` instead), ``PROVISION_CONNECTIONS``
    at a time: each creation hashes a password."""
    users: list[LoadUser] = []
    queue = deque(names)

    async def worker() -> None:
        while queue:
            name = queue.popleft()
            await admin.create_user(name, PASSWORD)
            if card is not None:
                enrolment = await admin.expect(
                    "POST",
                    f"/admin/v1/users/{name}/devices",
                    {"type": card, "pin": CARD_PIN},
                    status=201,
                )
                user = LoadUser(name, PASSWORD, None, card=card_state(enrolment), pin=CARD_PIN)
                users.append(user)
                continue
            key = hmac_key(await admin.enrol_totp(name)) if totp else None
            users.append(LoadUser(name, PASSWORD, key))

    async with asyncio.TaskGroup() as group:
        for _ in range(PROVISION_CONNECTIONS):
            group.create_task(worker())
    users.sort(key=lambda u: u.username)
    return users


CARD_PIN = "2468"


class UserPool:
    """Users with an unused TOTP step, one borrower at a time per user.

    ``acquire`` gives an idle user that has not logged in during the current
    step; when none is left and some are waiting for the next step, it moves
    the test clock on by one step (once, however many callers ask) and goes
    on. A user in flight when the clock moves still verifies: the gateway
    accepts the previous step (window 1).
    """

    def __init__(self, users: list[LoadUser], admin: AdminApi, now: float) -> None:
        self._ready: deque[LoadUser] = deque(users)
        self._spent: deque[LoadUser] = deque()
        self._admin = admin
        self.now = now
        self.advances = 0
        self._advancing: asyncio.Future[None] | None = None
        self._released = asyncio.Event()

    @property
    def step(self) -> int:
        return int(self.now // TOTP_STEP)

    async def acquire(self) -> LoadUser:
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._spent:
                await self._advance()
                continue
            # Every user is borrowed: wait for one to come back.
            self._released.clear()
            await self._released.wait()

    def release(self, user: LoadUser) -> None:
        (self._ready if user.last_step < self.step else self._spent).append(user)
        self._released.set()

    async def _advance(self) -> None:
        if self._advancing is None:
            self._advancing = asyncio.get_running_loop().create_future()
            try:
                if self._admin.test_clock:
                    self.now = await self._admin.advance(TOTP_STEP)
                else:
                    # A target without a test clock: wait for the next step.
                    await asyncio.sleep(TOTP_STEP - self.now % TOTP_STEP + 0.05)
                    self.now = await self._admin.now()
                self.advances += 1
                step = self.step
                for _ in range(len(self._spent)):
                    user = self._spent.popleft()
                    (self._ready if user.last_step < step else self._spent).append(user)
            finally:
                self._advancing.set_result(None)
                self._advancing = None
        else:
            await asyncio.shield(self._advancing)
