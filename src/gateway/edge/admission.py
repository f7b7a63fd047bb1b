"""Login admission: how many login requests the data plane lets through to
the control plane at once, and who goes first (SPEC 3: legit users first
under a flood).

The control plane (Quart, the lockout writes, Argon2id) costs milliseconds a
login where the data plane answers in microseconds, so a flood must be
sorted here, before it costs anything there. Two lanes, each a
``FairShare``:

- the password step (``POST /v1/login``): at most ``concurrency`` at the
  control plane; attempts with a valid trusted-device cookie for the
  username in their body go first, the others in turn by client address;
- the second step and the rest of a login (``POST /v1/login/{id}/...``):
  a lane of its own, so a code check never waits behind password attempts;
- recovery (``POST /v1/recovery/...``: password and username): a lane of
  its own, ``recovery_concurrency`` at once, and before it a token bucket
  per address (``recovery_rate``, ``recovery_burst``). Recovery asks nothing
  of its caller, so a flood of it is shed here for microseconds each and
  never queues beside logins.

A request that cannot get in (its address's share or the queue is full, or
its recovery bucket is empty) or waits longer than ``max_wait_seconds`` is
answered ``rate_limited`` at once.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import msgspec
import trio

import _fastcore
from gateway.auth.trust import DeviceCookies, device_cookie
from gateway.config import LoginAdmissionConfig
from gateway.edge.listener import Request
from gateway.errors import RateLimited
from gateway.fairness import FairShare

LOGIN_PATH = b"/v1/login"
LOGIN_STEPS = b"/v1/login/"
ACTIVATION_PATH = b"/v1/ibkey/activations"  # checks a password like a login
RECOVERY = b"/v1/recovery/"
MAX_ADDRESSES = 100_000  # recovery buckets kept (LRU)


class _Username(msgspec.Struct):
    username: str = ""


_decode_username = msgspec.json.Decoder(_Username).decode


class LoginAdmission:
    def __init__(self, config: LoginAdmissionConfig, devices: DeviceCookies) -> None:
        self._devices = devices
        self._max_wait = config.max_wait_seconds
        self.password = FairShare(
            config.concurrency, config.queue, config.per_client, "Too many logins in progress"
        )
        self.steps = FairShare(
            config.second_step_concurrency,
            config.queue,
            config.per_client,
            "Too many logins in progress",
        )
        self.recovery = FairShare(
            config.recovery_concurrency,
            config.queue,
            config.per_client,
            "Too many recovery requests in progress",
        )
        self._recovery_buckets = _fastcore.TokenBuckets(
            config.recovery_rate, config.recovery_burst, MAX_ADDRESSES
        )
        self.timed_out = 0

    def name(self, lane: FairShare) -> str:
        """The lane's name in metrics."""
        if lane is self.password:
            return "password"
        return "recovery" if lane is self.recovery else "steps"

    def lane(self, method: str, path: bytes) -> FairShare | None:
        """The lane of a request (``path`` as the edge decided it:
        ``/v1/%6cogin`` is ``/v1/login`` here too), or ``None`` when it
        needs no admission."""
        if method != "POST":
            return None
        if path in (LOGIN_PATH, ACTIVATION_PATH):
            return self.password
        if path.startswith(LOGIN_STEPS):
            return self.steps
        if path.startswith(RECOVERY):
            return self.recovery
        return None

    def trusted(self, request: Request, path: bytes, body: bytes | None) -> bool:
        """Whether a password step carries a valid device cookie for the
        username it names (a body that does not parse is not trusted; the
        control plane will say what is wrong with it)."""
        cookie = device_cookie(request.headers)
        if cookie is None or not body or path != LOGIN_PATH:
            return False
        try:
            username = _decode_username(body).username
        except (msgspec.DecodeError, UnicodeDecodeError):
            return False
        return self._devices.verify(cookie, username) is not None

    async def enter(self, lane: FairShare, client: str, trusted: bool) -> _Admitted:
        if lane is self.recovery:
            # trio's clock: real time, whatever the gateway's test clock says.
            now = trio.current_time()
            if not self._recovery_buckets.take(client, now):
                lane.shed += 1
                wait = self._recovery_buckets.retry_after(client, now)
                raise RateLimited(wait, "Too many recovery requests")
        with trio.move_on_after(self._max_wait) as waited:
            await lane.acquire(client, trusted)
        if waited.cancelled_caught:
            self.timed_out += 1
            raise RateLimited(1.0, "Too many logins in progress")
        return _Admitted(lane, client, trusted)


class _Admitted(AbstractAsyncContextManager["_Admitted"]):
    """A place held in a lane, given back when the request is answered."""

    __slots__ = ("_client", "_lane", "_trusted")

    def __init__(self, lane: FairShare, client: str, trusted: bool) -> None:
        self._lane = lane
        self._client = client
        self._trusted = trusted

    async def __aexit__(self, *exc: object) -> None:
        self._lane.release(self._client, self._trusted)
