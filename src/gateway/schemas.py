"""Wire schemas: one msgspec Struct per request and response body.

These Structs are the HTTP contract of DESIGN.md. Decoders are built once per
type and reused; ``/openapi.json`` is generated from them, so the document
cannot drift from the code.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from gateway.auth.sessions import Session, SessionRegistry
from gateway.store.base import ApiKeyRecord, ApiKeyScope

Platform = Literal["portal", "tws", "desktop", "mobile", "api"]
# "api" clients authenticate with API keys, never with a login.
LoginPlatform = Literal["portal", "tws", "desktop", "mobile"]
# Lengths bound what a client can make the gateway hold or hash. A username
# longer than any valid one is refused as a bad request; the character rule
# itself (bad_character) is the login core's.
Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]
LoginId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Method = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
# A code, or a passkey's assertion JSON (under 1 KiB as a rule; 4 KiB holds
# even the longest credential ids). Bounded so that any valid body, each
# character escaped, still fits in [http] max_body_bytes.
Response = Annotated[str, msgspec.Meta(max_length=4096)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Unset optional fields are left out of answers. ``status`` answers are
    msgspec tags, so they are always present. A field an answer always
    carries has no default: with ``omit_defaults`` a default value would be
    left out."""


# --- client side -------------------------------------------------------------


class LoginRequest(_Body, kw_only=True):
    username: Username
    password: Password
    platform: LoginPlatform = "portal"
    device_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    # The portal holds a trading session only when it trades (SPEC 5).
    trading: bool = False


class SessionInfo(_Body, kw_only=True):
    """A session as its holder sees it. ``id`` is a public handle derived
    from the token hash, never the token."""

    id: str
    user: str
    account: str
    platform: Platform
    kind: Literal["trading", "portal", "api"]
    method: str
    started_at: float
    expires_at: float
    idle_expires_at: float
    # "card_printing": a temporary-passcode session past its full-access days,
    # which may only print the online security card.
    scope: str | None = None


class LoginOk(_Body, kw_only=True, tag_field="status", tag="ok"):
    """A finished login. ``token`` is in the body for API and trading clients,
    which send it back as a bearer token; the portal (a browser) gets it only
    in the HttpOnly cookie, out of reach of page scripts."""

    session: SessionInfo
    token: str | None = None


class SecondFactorRequired(_Body, kw_only=True, tag_field="status", tag="second_factor"):
    login_id: str
    methods: list[str]
    expires_in: float


class ChallengeRequest(_Body, kw_only=True):
    method: Method
    # sms: "voice" for a call instead ("didn't receive a code?"); a resend either way.
    channel: Literal["sms", "voice"] | None = None


class ChallengeResponse(_Body, kw_only=True):
    method: str
    challenge: str | None = None
    positions: list[str] | None = None
    sent: Literal["sms", "voice"] | None = None
    pending: bool | None = None
    # passkey: WebAuthn request options for navigator.credentials.get()
    # (PublicKeyCredentialRequestOptions JSON, challenge and ids base64url).
    options: dict[str, Any] | None = None


class VerifyRequest(_Body, kw_only=True):
    method: Method
    response: Response


class ConfirmRequest(_Body, kw_only=True):
    takeover: bool


class LoginAbandoned(_Body, kw_only=True, tag_field="status", tag="abandoned"):
    login_id: str


class LoginStatus(_Body, kw_only=True):
    login_id: str
    state: str
    # An IB Key push: pending, approved, denied or expired.
    push: Literal["pending", "approved", "denied", "expired"] | None = None


class TemporaryPasscode(_Body, kw_only=True):
    passcode: str  # shown once
    full_until: float
    portal_until: float


class TemporaryPasscodeRequest(_Body, kw_only=True):
    """An empty body (or none): the passcode is in the answer, for support
    to read out. ``deliver: "ibkey"``: it goes to the user's IB Key
    instead, sealed for that phone alone, and the answer never holds it."""

    deliver: Literal["ibkey"] | None = None


class TemporaryPasscodeDelivered(_Body, kw_only=True):
    delivered: Literal["ibkey"]
    device_id: str  # the phone it waits for, in its approvals list
    full_until: float
    portal_until: float


class Reactivated(_Body, kw_only=True):
    device_id: str
    reactivated: bool
    sessions_ended: int


class OnlineCardPrinted(_Body, kw_only=True):
    card: CodeGrid
    valid_until: float


class ReactivationProof(_Body, kw_only=True):
    # Without it: the challenge to answer; with it: the device's fresh answer.
    response: Response | None = None


class ReactivationChallenge(_Body, kw_only=True):
    device_id: str
    challenge: str | None = None
    positions: list[str] | None = None
    options: dict[str, Any] | None = None  # a passkey: WebAuthn request options


class PasskeyOptions(_Body, kw_only=True):
    """WebAuthn creation options for navigator.credentials.create()
    (PublicKeyCredentialCreationOptions JSON, binary fields base64url)."""

    options: dict[str, Any]
    expires_in: int


class PasskeyRegistration(_Body, kw_only=True):
    """``{}``: start, the answer is ``PasskeyOptions``. ``{credential}``:
    finish with the authenticator's answer, PublicKeyCredential.toJSON() (an
    object, or the same JSON as a string)."""

    credential: dict[str, Any] | str | None = None
    label: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class PasskeyInfo(_Body, kw_only=True):
    device_id: str
    credential_id: str  # b64u, as the authenticator names it
    label: str | None = None
    created_at: float
    aaguid: str  # the authenticator model, all zeros when it keeps it to itself
    backed_up: bool  # a synced passkey
    transports: list[str]


class PasskeyList(_Body, kw_only=True):
    passkeys: list[PasskeyInfo]


class DeviceRemoved(_Body, kw_only=True):
    device_id: str
    removed: bool
    sessions_ended: int  # the sessions the device had opened end with it


class PasswordRecovery(_Body, kw_only=True):
    username: Username


class RecoveryStarted(_Body, kw_only=True):
    recovery_id: str


class PasswordReset(_Body, kw_only=True):
    code: Annotated[str, msgspec.Meta(max_length=16)]
    new_password: Password


class PasswordResetDone(_Body, kw_only=True):
    """``api_keys_revoked``: how many of the user's API keys the reset
    revoked (all of them: whoever held the account before minted them)."""

    reset: bool
    api_keys_revoked: int


class UsernameRecovery(_Body, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=254)]


class Accepted(_Body, kw_only=True):
    accepted: bool


class WithdrawalRequest(_Body, kw_only=True):
    # A decimal string with at most two decimals ("1250", "1250.50"): a JSON
    # number is refused, since a float cannot hold every amount exactly.
    amount: Annotated[str, msgspec.Meta(max_length=24)]


class WithdrawalStanding(_Body, kw_only=True):
    """Amounts as decimal strings; null: unlimited."""

    fits: bool
    method: str
    daily_limit: str | None
    five_day_limit: str | None
    remaining_day: str | None
    remaining_five_days: str | None


class WithdrawalRefused(WithdrawalStanding, kw_only=True):
    """403 ``forbidden``: the SPEC error form with the standing."""

    error: Literal["forbidden"]
    message: str


class ActivationRequest(_Body, kw_only=True):
    username: Username
    password: Password
    # "card": answer a challenge of the user's active security card instead
    # of waiting for the SMS token.
    use: Literal["sms", "card"] = "sms"


class ActivationStarted(_Body, kw_only=True):
    activation_id: str
    sent: Literal["sms"] | None
    challenge: str | None = None  # use = card: the card's challenge; its answer is the token
    expires_in: int


class ActivationCompletion(_Body, kw_only=True):
    token: Annotated[str, msgspec.Meta(max_length=16)]
    public_key: Annotated[str, msgspec.Meta(max_length=64)]  # b64u raw Ed25519
    pin: Annotated[str, msgspec.Meta(max_length=16)]


class IbKeyActivated(_Body, kw_only=True):
    device_id: str
    ocra_suite: str
    ocra_key: str  # b64u; shown once


class Approval(_Body, kw_only=True):
    approval_id: str
    nonce: str
    username: str
    platform: str
    ip: str
    created_at: float
    # "temporary_passcode": support's delivery, not a login to decide.
    # ``sealed`` (b64u) is nonce (12 bytes) + AES-256-GCM ciphertext and
    # tag of the passcode, under HKDF-SHA256(ocra_key, salt none, info
    # "temporary-passcode"), associated data the approval_id. Answering it
    # (either decision, signed as usual) dismisses it.
    kind: Literal["approval", "temporary_passcode"]
    sealed: str | None = None


class ApprovalList(_Body, kw_only=True):
    approvals: list[Approval]


class ApprovalAnswer(_Body, kw_only=True):
    decision: Literal["approve", "deny"]
    signature: Annotated[str, msgspec.Meta(max_length=128)]  # b64u Ed25519


class ApprovalAnswered(_Body, kw_only=True):
    approval_id: str
    decision: Literal["approve", "deny"]


class SessionStatus(_Body, kw_only=True, tag_field="status", tag="ok"):
    session: SessionInfo


class LoggedOut(_Body, kw_only=True, tag_field="status", tag="logged_out"):
    """The session is over; the cookie is cleared."""


class ErrorBody(_Body, kw_only=True):
    """Every error answer: ``error`` is a SPEC section 9 code."""

    error: str
    message: str
    retry_after: int | None = None
    platform: str | None = None
    started_at: float | None = None
    login_id: str | None = None


# --- API keys ----------------------------------------------------------------

ScopeName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ApiKeyScopeBody(_Body, kw_only=True):
    """A route scope (a route's ``api_key_scope``) and the methods allowed
    on it; no methods listed: every method."""

    route: ScopeName
    methods: Annotated[list[HttpMethod], msgspec.Meta(max_length=7)] = []


class CreateApiKeyRequest(_Body, kw_only=True):
    """From a session: only scopes a route or forward-auth rule names and
    admits that session's kind in, and ``rate``/``burst`` no higher than the
    configured defaults (``forbidden`` otherwise; support may grant any named
    scope at any rate)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    scopes: Annotated[list[ApiKeyScopeBody], msgspec.Meta(min_length=1, max_length=32)]
    rate: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] | None = None
    burst: Annotated[float, msgspec.Meta(ge=1, le=10_000_000)] | None = None


class ApiKeyInfo(_Body, kw_only=True):
    key_id: str
    user: str
    name: str
    scopes: list[ApiKeyScopeBody]
    rate: float
    burst: float
    created_at: float
    created_by: str


class ApiKeyCreated(ApiKeyInfo, kw_only=True):
    """``key`` is shown here once; only its hash is kept."""

    key: str


class ApiKeyList(_Body, kw_only=True):
    keys: list[ApiKeyInfo]


class ApiKeyRevoked(_Body, kw_only=True):
    key_id: str
    revoked: bool


# --- admin side --------------------------------------------------------------


class CreateUserRequest(_Body, kw_only=True):
    username: Username
    password: Password
    account: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class UserInfo(_Body, kw_only=True):
    username: str
    account: str
    email: str | None = None
    phone: str | None = None
    devices: list[str]
    # Shipped cards not activated yet ("type:id"): not offered at login.
    pending_devices: list[str]
    locked: bool
    failures: int
    retry_after: float


CardType = Literal["dscplus", "platinum", "gold", "dsc"]


class EnrolDeviceRequest(_Body, kw_only=True):
    type: Literal["totp", "dscplus", "platinum", "gold", "dsc", "sms", "scc"]
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None  # sms; default: on record
    # Cards: the PIN (4 digits; made and shown once if not given) and, for a
    # card manufactured elsewhere, its key (b64u, 16 to 64 bytes).
    pin: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    secret: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    label: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # A card support ships (dscplus, platinum, gold, dsc, scc): pending until
    # its holder activates it, or [devices] auto_activate_days after it is
    # delivered: at deliver_at (Unix time) or delivery_days from now.
    ships: bool = False
    deliver_at: Annotated[float, msgspec.Meta(ge=0, le=1e11)] | None = None
    delivery_days: Annotated[float, msgspec.Meta(ge=0, le=365)] | None = None


class UpdateContactsRequest(_Body, kw_only=True):
    """Support changes where messages go; the old address is told."""

    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class TotpEnrolled(_Body, kw_only=True):
    device_id: str
    type: Literal["totp"]
    secret: str
    otpauth_uri: str


class CardEnrolled(_Body, kw_only=True):
    """An OCRA card, shown once: what the card holds."""

    device_id: str
    type: CardType
    secret: str  # b64u key
    ocra_suite: str
    serial: str
    pin: str | None = None  # only when the gateway made it
    # False for dsc: its PIN unlocks the card itself and is no part of the
    # response, so the gateway never sees or checks it.
    pin_checked: bool
    pin_note: str
    deliver_at: float | None = None  # shipped: pending until activated ...
    activates_at: float | None = None  # ... or until this time, by itself


class CodeGrid(_Body, kw_only=True):
    columns: str
    rows: int
    codes: dict[str, str]


class CodeCardEnrolled(_Body, kw_only=True):
    """A Security Code Card, shown once here (support can print it again at
    .../card.html and .../card.png)."""

    device_id: str
    type: Literal["scc"]
    card: CodeGrid
    deliver_at: float | None = None
    activates_at: float | None = None


class SmsEnrolled(_Body, kw_only=True):
    device_id: str
    type: Literal["sms"]
    phone: str


class OutboxMessage(_Body, kw_only=True):
    id: int
    channel: Literal["sms", "voice", "email", "push"]
    to: str
    text: str
    code: str | None = None
    created_at: float


class Outbox(_Body, kw_only=True):
    messages: list[OutboxMessage]


class PinChange(_Body, kw_only=True):
    old_pin: Annotated[str, msgspec.Meta(max_length=16)]
    new_pin: Annotated[str, msgspec.Meta(max_length=16)]


class DeviceActivated(_Body, kw_only=True):
    device_id: str
    activated: bool
    # The interim credentials' sessions, when the activation also ended a
    # suspension (it is a reactivation then).
    sessions_ended: int


class EmailChangeRequest(_Body, kw_only=True):
    """Without ``password``: a code goes to the e-mail on record. With it:
    the change is made at once."""

    new_email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Password | None = None


class EmailCodeSent(_Body, kw_only=True):
    sent: Literal["email"]  # to the e-mail on record
    expires_in: int


class EmailChangeConfirmation(_Body, kw_only=True):
    code: Annotated[str, msgspec.Meta(max_length=16)]


class EmailChanged(_Body, kw_only=True):
    email: str
    changed: bool


class PinReset(_Body, kw_only=True):
    new_pin: Annotated[str, msgspec.Meta(max_length=16)]


class PinChanged(_Body, kw_only=True):
    device_id: str
    changed: bool


class Unlocked(_Body, kw_only=True):
    username: str
    locked: bool


class SessionList(_Body, kw_only=True):
    sessions: list[SessionInfo]


class SessionEnded(_Body, kw_only=True):
    id: str
    ended: bool


class ClockRequest(_Body, kw_only=True):
    advance: Annotated[float, msgspec.Meta(ge=0, le=10 * 365 * 86400)] | None = None
    set: Annotated[float, msgspec.Meta(ge=0, le=2**40)] | None = None


class ClockState(_Body, kw_only=True):
    now: float


class Health(_Body, kw_only=True, tag_field="status", tag="ok"):
    version: str
    implementation: str


REQUEST_TYPES: tuple[type[msgspec.Struct], ...] = (
    LoginRequest,
    CreateApiKeyRequest,
    ChallengeRequest,
    VerifyRequest,
    ConfirmRequest,
    CreateUserRequest,
    EnrolDeviceRequest,
    ClockRequest,
)
RESPONSE_TYPES: tuple[type[msgspec.Struct], ...] = (
    LoginOk,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyRevoked,
    SecondFactorRequired,
    ChallengeResponse,
    LoginAbandoned,
    LoginStatus,
    SessionStatus,
    LoggedOut,
    ErrorBody,
    UserInfo,
    TotpEnrolled,
    Unlocked,
    SessionList,
    SessionEnded,
    ClockState,
    Health,
)


def session_info(sessions: SessionRegistry, session: Session) -> SessionInfo:
    return SessionInfo(
        id=session.session_id,
        user=session.username,
        account=session.account_id,
        platform=session.platform.value,
        kind=session.kind.value,
        method=session.method,
        started_at=session.started_at,
        expires_at=sessions.expires_at(session),
        idle_expires_at=sessions.idle_expires_at(session),
        scope=session.scope,
    )


def api_key_info(record: ApiKeyRecord, key: str | None = None) -> ApiKeyInfo:
    fields = {
        "key_id": record.key_id,
        "user": record.username,
        "name": record.name,
        "scopes": [
            ApiKeyScopeBody(route=s.route, methods=list(s.methods))  # type: ignore[arg-type]
            for s in record.scopes
        ],
        "rate": record.rate,
        "burst": record.burst,
        "created_at": record.created_at,
        "created_by": record.created_by,
    }
    if key is not None:
        return ApiKeyCreated(key=key, **fields)  # type: ignore[arg-type]
    return ApiKeyInfo(**fields)  # type: ignore[arg-type]


def api_key_scopes(body: CreateApiKeyRequest) -> list[ApiKeyScope]:
    return [ApiKeyScope(s.route, tuple(s.methods)) for s in body.scopes]
