"""The login transaction of DESIGN.md's HTTP contract, as a state machine.

    POST /v1/login                  password          -> LoggedIn | SecondFactorRequired
    POST /v1/login/{id}/challenge   method            -> Challenge
    POST /v1/login/{id}/verify      method, response  -> LoggedIn   (or SessionExists)
    POST /v1/login/{id}/confirm     takeover          -> LoggedIn | None

Order of checks at the password step, cheapest first and nothing hashed
before the floods are shed: per-IP bucket, username characters
(``bad_character``, never counted), per-user bucket, lockout reservation,
then exactly one Argon2id verification, against the user's hash or a dummy.

Each password or second-factor check is a reserved lockout attempt (see
``lockout.py``). A correct password with a second factor still to come
releases its attempt without resetting the count; only a completed login
resets it, so knowing the password does not buy unlimited code guesses.

Trusted devices (``trust.py``): an attempt with a valid device cookie for
its username is counted under the lock key ``username/device`` and has a
per-user bucket of its own, so guesses from elsewhere neither lock nor slow
the owner's device; it also goes first for hashing. A completed login hands
out a device cookie when the client had no valid one.

Transactions are in memory, keyed by a random ``login_id``, and expire after
``login.expiry_seconds``.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.events import EventBus
from gateway.auth.factors.base import Challenge, Factor, Tier
from gateway.auth.factors.interim import INTERIM_METHODS, offered_at_login
from gateway.auth.lockout import LockoutGuard, Outcome
from gateway.auth.passwords import AsyncPasswordHasher, check_username
from gateway.auth.ratelimit import LoginRateLimits
from gateway.auth.sessions import Occupied, Platform, Session, SessionRegistry, parse_platform
from gateway.auth.shipments import usable
from gateway.auth.trust import DeviceCookies, lock_key
from gateway.clock import Clock
from gateway.config import LoginConfig
from gateway.errors import (
    BadRequest,
    Forbidden,
    InvalidCredentials,
    Locked,
    LoginFailed,
    NotFound,
    RateLimited,
    SessionExists,
)
from gateway.notify import Notifier
from gateway.store.base import Device, Store, User

NO_SECOND_FACTOR = "none"
SUSPENDED = "suspended:"  # store setting: the user's security devices are suspended


class LoginState(enum.StrEnum):
    PASSWORD = "password"  # being checked; never stored in this state
    SECOND_FACTOR = "second_factor"  # password accepted, waiting for a method
    CHALLENGE_SENT = "challenge_sent"
    SESSION_EXISTS = "session_exists"  # verified; waiting for takeover confirmation
    COMPLETED = "completed"
    ABANDONED = "abandoned"  # takeover declined
    EXPIRED = "expired"


class LoginEvent(enum.Enum):
    FACTOR_REQUIRED = enum.auto()
    CHALLENGE_ISSUED = enum.auto()
    FACTOR_FAILED = enum.auto()
    SESSION_OCCUPIED = enum.auto()
    SESSION_OPENED = enum.auto()
    TAKEOVER_DECLINED = enum.auto()
    TIMED_OUT = enum.auto()


_S, _E = LoginState, LoginEvent
_WAITING_FOR_FACTOR = (_S.SECOND_FACTOR, _S.CHALLENGE_SENT)
_LIVE = (*_WAITING_FOR_FACTOR, _S.SESSION_EXISTS)
_TRANSITIONS: dict[tuple[LoginState, LoginEvent], LoginState] = {
    (_S.PASSWORD, _E.FACTOR_REQUIRED): _S.SECOND_FACTOR,
    (_S.PASSWORD, _E.SESSION_OCCUPIED): _S.SESSION_EXISTS,
    (_S.PASSWORD, _E.SESSION_OPENED): _S.COMPLETED,
    **{(s, _E.CHALLENGE_ISSUED): _S.CHALLENGE_SENT for s in _WAITING_FOR_FACTOR},
    **{(s, _E.FACTOR_FAILED): s for s in _WAITING_FOR_FACTOR},
    **{(s, _E.SESSION_OCCUPIED): _S.SESSION_EXISTS for s in _WAITING_FOR_FACTOR},
    **{(s, _E.SESSION_OPENED): _S.COMPLETED for s in _WAITING_FOR_FACTOR},
    (_S.SESSION_EXISTS, _E.SESSION_OPENED): _S.COMPLETED,
    (_S.SESSION_EXISTS, _E.TAKEOVER_DECLINED): _S.ABANDONED,
    **{(s, _E.TIMED_OUT): _S.EXPIRED for s in _LIVE},
}


@dataclass(eq=False, slots=True)
class LoginTransaction:
    login_id: str = field(repr=False)  # bearer of the transaction
    username: str
    account_id: str
    platform: Platform
    trading: bool
    methods: tuple[str, ...]
    expires_at: float
    lock_key: str = ""  # the username, or username/device for a trusted device
    device_id: str | None = None
    state: LoginState = LoginState.PASSWORD
    challenge: Challenge | None = None
    challenge_method: str | None = None
    challenges: dict[str, int] = field(default_factory=dict)  # issued, by method
    verified: bool = False  # a second factor passed (claimed by one request)
    scope: str | None = None  # what the session may do, if limited
    verified_method: str | None = None
    verified_device: str | None = None  # the device whose answer was right

    def __post_init__(self) -> None:
        if not self.lock_key:
            self.lock_key = self.username

    def move(self, event: LoginEvent) -> None:
        try:
            self.state = _TRANSITIONS[(self.state, event)]
        except KeyError:
            raise BadRequest(f"the login is in state {self.state.value}") from None


@dataclass(frozen=True, slots=True)
class SecondFactorRequired:
    login_id: str = field(repr=False)
    methods: tuple[str, ...]
    expires_in: int


@dataclass(frozen=True, slots=True)
class LoggedIn:
    token: str = field(repr=False)  # goes to the client once; never stored
    session: Session
    tier: Tier
    replaced: Session | None = None
    device_cookie: str | None = field(default=None, repr=False)  # new, for a new device


class LoginFlow:
    def __init__(
        self,
        *,
        store: Store,
        sessions: SessionRegistry,
        hasher: AsyncPasswordHasher,
        guard: LockoutGuard,
        limits: LoginRateLimits,
        factors: Mapping[str, Factor],
        clock: Clock,
        config: LoginConfig | None = None,
        events: EventBus | None = None,
        devices: DeviceCookies | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._events = events if events is not None else EventBus()
        self._devices = devices
        self._notifier = notifier
        self._on_push: Callable[[Any, str, str], None] | None = None
        self._store = store
        self._sessions = sessions
        self._hasher = hasher
        self._guard = guard
        self._limits = limits
        self._factors = factors
        self._clock = clock
        self._expiry = (config if config is not None else LoginConfig()).expiry_seconds
        self._transactions: dict[str, LoginTransaction] = {}

    async def login(
        self,
        username: str,
        password: str,
        platform: str,
        *,
        ip: str,
        trading: bool = False,
        device: str | None = None,
    ) -> LoggedIn | SecondFactorRequired:
        """The password step; ``device`` is the client's device cookie, if
        any. Raises ``RateLimited``, ``BadCharacter``, ``Locked``,
        ``InvalidCredentials`` or ``SessionExists``."""
        self._limits.check_ip(ip)
        check_username(username)
        where = parse_platform(platform)
        device_id = self._devices.verify(device, username) if self._devices else None
        key = lock_key(username, device_id)
        user, methods = await self._password_step(
            username, password, ip, key, device_id, platform=where.value
        )
        txn = LoginTransaction(
            secrets.token_urlsafe(24),
            username,
            user.account_id,
            where,
            trading,
            methods,
            self._clock.now() + self._expiry,
            key,
            device_id,
        )
        if not methods:
            return await self._open_session(txn, NO_SECOND_FACTOR)
        txn.move(LoginEvent.FACTOR_REQUIRED)
        self._transactions[txn.login_id] = txn
        return SecondFactorRequired(txn.login_id, methods, int(self._expiry))

    async def check_password(self, username: str, password: str, *, ip: str) -> User:
        """A password checked exactly as at the password step (buckets,
        lockout, one hash, the same errors), for an action that is not a
        login (an IB Key activation): a right password releases its attempt
        without resetting the count."""
        self._limits.check_ip(ip)
        check_username(username)
        user, _ = await self._password_step(
            username, password, ip, username, None, platform="", methods=False
        )
        return user

    async def _password_step(
        self,
        username: str,
        password: str,
        ip: str,
        key: str,
        device_id: str | None,
        *,
        platform: str,
        methods: bool = True,
    ) -> tuple[User, tuple[str, ...]]:
        trusted = device_id is not None
        try:
            self._limits.check_user(key)
            attempt = await self._guard.reserve(key)
        except (Locked, RateLimited) as refusal:
            self._emit(
                "login_refused",
                username,
                ip=ip,
                reason=refusal.code,
                step="password",
                trusted_device=trusted,
            )
            raise
        found: tuple[str, ...] = ()
        try:
            user = await self._store.get_user(username)
            # Exactly one hash whether or not the user exists.
            encoded = user.password_hash if user is not None else self._hasher.dummy_hash
            matched = await self._hasher.verify(password, encoded, client=ip, trusted=trusted)
            if user is None or not matched:
                outcome = Outcome.FAILED
            elif not methods:
                outcome = Outcome.RELEASED
            else:
                found = await self._methods_of(username, platform == Platform.PORTAL.value)
                outcome = Outcome.RELEASED if found else Outcome.SUCCEEDED
        except BaseException:
            await self._guard.release(attempt)  # not evaluated: counts nothing
            raise
        await self._guard.settle(attempt, outcome)
        if user is None or outcome is Outcome.FAILED:
            fields = {"platform": platform} if platform else {}
            await self._failed(username, key, ip, step="password", trusted_device=trusted, **fields)
            raise InvalidCredentials()
        return user, found

    async def challenge(
        self, login_id: str, method: str, channel: str | None = None, *, ip: str = ""
    ) -> Challenge:
        """Issue the challenge of ``method`` (nothing to show for TOTP); a new
        one replaces the last (an SMS resend). Raises ``RateLimited`` past the
        method's challenges per login."""
        txn = self._live(login_id)
        factor = self._offered(txn, method)
        lock = await self._guard.status(txn.lock_key)
        if lock.locked:
            raise Locked(lock.retry_after)
        issued_before = txn.challenges.get(method, 0)
        if issued_before >= factor.max_challenges:
            raise RateLimited(self._expiry, "No more codes for this login; start again")
        devices = [d for d in await self._devices_of(txn.username) if d.type == method]
        issued = factor.issue_challenge(devices, self._clock.now(), channel)
        txn.challenges[method] = issued_before + 1
        txn.move(LoginEvent.CHALLENGE_ISSUED)
        txn.challenge, txn.challenge_method = issued, method
        if issued.pending and issued.private is not None and self._on_push is not None:
            self._on_push(issued.private, txn.platform.value, ip)  # queue the phone's approval
        message = issued.deliver
        if message is not None and self._notifier is not None:
            self._notifier.send_or_refuse(
                message.channel,  # type: ignore[arg-type]
                message.to,
                message.text,
                message.code,
                user=txn.username,  # held back: rate_limited, the password is proved
            )
            self._emit("code_sent", txn.username, method=method, channel=message.channel)
        return issued

    async def verify(self, login_id: str, method: str, response: str, *, ip: str) -> LoggedIn:
        """Check the second factor. Raises ``LoginFailed``, ``Locked``,
        ``RateLimited``, ``NotFound`` or ``SessionExists``."""
        txn = self._live(login_id)
        if txn.state not in _WAITING_FOR_FACTOR:
            raise BadRequest(f"the login is in state {txn.state.value}")
        factor = self._offered(txn, method)
        self._limits.check_ip(ip)
        try:
            attempt = await self._guard.reserve(txn.lock_key)
        except (Locked, RateLimited) as refusal:
            self._emit("login_refused", txn.username, ip=ip, reason=refusal.code, method=method)
            raise
        try:
            if txn.verified:
                raise NotFound("this login was verified already")
            verified = await self._check_factor(txn, factor, response)
            if verified and txn.scope is not None and txn.platform is not Platform.PORTAL:
                # A limited credential opens a portal session only.
                raise Forbidden("This credential logs in to the portal only now")
            if verified:
                txn.verified = True
            elif txn.verified:
                # Another request verified this login while this one was
                # checked (50 taps on one push approval): it is no attempt.
                raise NotFound("this login was verified already")
        except BaseException:
            await self._guard.release(attempt)
            raise
        finally:
            # A challenge is answered once, rightly or not: the next try needs
            # a new one (no second guess at the same card challenge).
            if not txn.verified:
                txn.challenge = txn.challenge_method = None
        await self._guard.settle(attempt, Outcome.SUCCEEDED if verified else Outcome.FAILED)
        if not verified:
            if txn.state in _WAITING_FOR_FACTOR:  # a racing verify may have moved it on
                txn.move(LoginEvent.FACTOR_FAILED)
            await self._failed(txn.username, txn.lock_key, ip, step="second_factor", method=method)
            raise LoginFailed()
        # Claim the transaction before anything else awaits, so two correct
        # responses racing on one login open one session.
        if self._transactions.pop(login_id, None) is not txn or txn.state not in _LIVE:
            raise NotFound("unknown or expired login")
        return await self._open_session(txn, method)

    async def confirm(self, login_id: str, takeover: bool) -> LoggedIn | None:
        """Answer the takeover prompt after ``session_exists``. With
        ``takeover`` the old trading session ends at once; without it the
        login is abandoned (``None``)."""
        txn = self._live(login_id)
        if txn.state is not LoginState.SESSION_EXISTS or txn.verified_method is None:
            raise BadRequest(f"the login is in state {txn.state.value}")
        del self._transactions[login_id]
        if not takeover:
            txn.move(LoginEvent.TAKEOVER_DECLINED)
            return None
        lock = await self._guard.status(txn.lock_key)
        if lock.locked:
            raise Locked(lock.retry_after)
        return await self._open_session(txn, txn.verified_method, takeover=True)

    def use_notifier(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def on_push(self, register: Callable[[Any, str, str], None]) -> None:
        """Where a challenge waiting on a phone's approval is queued."""
        self._on_push = register

    def push_status(self, login_id: str) -> str | None:
        """``pending``, ``approved``, ``denied`` or ``expired`` for a login
        whose challenge waits on a phone; ``None`` for any other."""
        txn = self._live(login_id)
        challenge = txn.challenge
        if challenge is None or not challenge.pending or challenge.private is None:
            return None
        ticket = challenge.private
        if self._clock.now() >= getattr(ticket, "expires_at", 0.0):
            return "expired"  # an approval past its time is worth nothing
        decision = getattr(ticket, "decision", None)
        if decision is not None:
            return "approved" if decision == "approve" else "denied"
        return "pending"

    def state(self, login_id: str) -> LoginState:
        """Where a live login stands (``GET /v1/login/{id}``)."""
        return self._live(login_id).state

    def sweep(self) -> int:
        """Forget expired logins; returns how many."""
        now = self._clock.now()
        expired = [k for k, t in self._transactions.items() if now >= t.expires_at]
        for login_id in expired:
            self._transactions.pop(login_id).move(LoginEvent.TIMED_OUT)
        return len(expired)

    async def _open_session(
        self, txn: LoginTransaction, method: str, takeover: bool = False
    ) -> LoggedIn:
        opened = self._sessions.open(
            username=txn.username,
            account_id=txn.account_id,
            platform=txn.platform,
            method=method,
            trading=txn.trading,
            takeover=takeover,
            scope=txn.scope,
            device_id=txn.verified_device,
        )
        if isinstance(opened, Occupied):
            txn.verified_method = method
            txn.move(LoginEvent.SESSION_OCCUPIED)
            self._transactions[txn.login_id] = txn
            existing = opened.existing
            raise SessionExists(existing.platform.value, existing.started_at, txn.login_id)
        txn.move(LoginEvent.SESSION_OPENED)
        session = opened.session
        self._emit(
            "login_ok",
            txn.username,
            platform=session.platform.value,
            method=method,
            session=session.session_id[:16],
            trusted_device=txn.device_id is not None,
        )
        for ended in opened.ended:
            # Past [sessions] max_portal_sessions: the oldest portal session
            # ends, as a logout would; nothing was taken over.
            self._emit(
                "session_ended",
                txn.username,
                session=ended.session_id[:16],
                platform=ended.platform.value,
                reason="max_portal_sessions",
                by="gateway",
            )
        if opened.replaced is not None:
            self._emit(
                "takeover",
                txn.username,
                session=session.session_id[:16],
                replaced=opened.replaced.session_id[:16],
                replaced_platform=opened.replaced.platform.value,
            )
        tier = self._factors[method].tier
        new_device = None
        if self._devices is not None and txn.device_id is None:
            new_device = self._devices.issue(txn.username)
        return LoggedIn(opened.token, opened.session, tier, opened.replaced, new_device)

    def _emit(self, kind: str, username: str, **fields: object) -> None:
        self._events.emit(kind, self._clock.now(), username, **fields)

    async def _failed(self, username: str, key: str, ip: str, **fields: object) -> None:
        """Record a failed attempt, and the lock it may have started (once
        locked, attempts are refused before they can fail again)."""
        self._emit("login_failed", username, ip=ip, **fields)
        if (await self._guard.status(key)).locked:
            self._emit("locked", username, ip=ip, trusted_device=key != username)

    async def _devices_of(self, username: str) -> list[Device]:
        """The user's devices a login may use: not a shipped card its holder
        has not activated yet (``shipments.py``)."""
        return await usable(self._store, await self._store.devices_of(username), self._clock.now())

    async def _methods_of(self, username: str, portal: bool) -> tuple[str, ...]:
        """The methods to offer a login (``portal``: on the portal), in
        the order the devices were enrolled."""
        devices = await self._devices_of(username)
        now = self._clock.now()
        suspended = bool(await self._store.get_setting(SUSPENDED + username))
        if suspended:
            # The security devices are away: only the interim credentials work.
            devices = [d for d in devices if d.type in INTERIM_METHODS]
        offered = [d for d in devices if offered_at_login(d, now, portal=portal)]
        if suspended and not offered:
            self._emit("login_refused", username, reason="interim_expired", portal=portal)
            if any(offered_at_login(d, now, portal=True) for d in devices):
                raise Forbidden("The temporary passcode logs in to the portal only now")
            raise LoginFailed(
                "The temporary passcode and the online security card have expired: "
                "support can reactivate a security device"
            )
        # An interim credential past its time is as good as gone.
        types = dict.fromkeys(d.type for d in offered)
        methods = tuple(t for t in types if t in self._factors and t != NO_SECOND_FACTOR)
        if types and not methods:
            # Devices this build cannot verify: fail closed rather than fall
            # back to password only.
            raise LoginFailed()
        return methods

    async def _check_factor(self, txn: LoginTransaction, factor: Factor, response: str) -> bool:
        """Whether one of the user's devices of the method takes ``response``;
        the scope of what it opens goes to ``txn.scope``."""
        method = factor.method
        challenge = txn.challenge if txn.challenge_method == method else None
        now = self._clock.now()
        for device in await self._devices_of(txn.username):
            if device.type != method:
                continue
            result = factor.verify(device, response, now, challenge)
            if not result.ok:
                if result.alarm is not None:
                    self._emit(
                        "factor_alarm",
                        txn.username,
                        method=method,
                        device=device.device_id,
                        reason=result.alarm,
                    )
                continue
            # Burn the step: a replay, or the same code racing in twice, loses here.
            if result.counter is None or await self._store.claim_counter(
                device.device_id, result.counter
            ):
                txn.scope = result.scope
                txn.verified_device = device.device_id
                return True
        return False

    def _live(self, login_id: str) -> LoginTransaction:
        txn = self._transactions.get(login_id)
        if txn is None:
            raise NotFound("unknown or expired login")
        if self._clock.now() >= txn.expires_at:
            del self._transactions[login_id]
            txn.move(LoginEvent.TIMED_OUT)
            raise NotFound("unknown or expired login")
        return txn

    def _offered(self, txn: LoginTransaction, method: str) -> Factor:
        factor = self._factors.get(method)
        if method not in txn.methods or factor is None:
            raise BadRequest(f"method {method!r} is not offered for this login")
        return factor
