"""The gateway's configuration: one TOML file decoded into msgspec Structs.

Every number of SPEC.md is here with its default, so the gateway runs with no
file at all (``load_config(None)``). Durations are in seconds. Secrets come
from the environment (``GATEWAY_MASTER_KEY``, ``GATEWAY_ADMIN_TOKEN``), which
overrides the file; they never appear in a repr.

A full file with the defaults::

    [lockout]
    max_failures = 10            # consecutive failures ...
    window_seconds = 86400       # ... within this window lock the user
    lock_seconds = 86400         # a lock lasts this long after the last refused attempt
    attempt_ttl_seconds = 60     # a reserved attempt never settled counts as failed after this
    max_guessed_names = 100000   # lock state of names nobody has: memory only, LRU

    [sessions]
    idle_timeout_seconds = 900
    absolute_lifetime_seconds = 86400
    max_portal_sessions = 5      # portal (web) sessions of one user at once; past it the
                                 # oldest ends (a trading portal is the trading session)

    [login]
    expiry_seconds = 300         # a login transaction (login_id) lives this long

    [passwords]
    min_length = 6
    max_length = 40

    [argon2]
    profile = "production"       # or "insecure-load-test"
    memory_cost_kib = 65536      # 64 MiB
    iterations = 3
    lanes = 4
    max_concurrent_hashes = 4    # hashes at once when lanes = 1 (with lanes > 1 one
                                 # hash at a time, spread over every core by OpenSSL)
    max_queued_hashes = 32       # logins waiting for a hash beyond those; more: rate_limited
    max_hashes_per_client = 4    # admitted at once from one address (trusted devices aside)

    [rate_limits]
    ip_rate = 5.0                # login attempts per second per client IP, refilled
    ip_burst = 50
    user_rate = 0.2              # login attempts per second per username (12 a minute)
    user_burst = 20
    max_keys = 100000

    [login_admission]            # logins let through to the control plane; legit users first
    concurrency = 1              # password steps at once (trusted devices first, then by address);
                                 # raise it to the hashes that may run at once if lanes = 1
    second_step_concurrency = 8  # code checks at once: never behind password steps
    queue = 256                  # waiting, per class; more: rate_limited
    per_client = 8               # admitted at once from one address
    max_wait_seconds = 5
    recovery_concurrency = 1     # recovery requests (password, username) at once, in a lane
    recovery_rate = 0.5          # recovery requests per second per address, refilled
    recovery_burst = 5

    [notifier]
    kind = "outbox"              # or "webhook": also POST each message to webhook_url
    outbox_size = 10000          # messages kept for GET /admin/v1/outbox
    # webhook_url = "https://sms-provider.example/hook"
    webhook_retries = 3
    webhook_timeout_seconds = 5
    per_user_per_minute = 5      # messages (SMS, voice, e-mail, push) to one user, whatever
    per_destination_per_minute = 5  # asked for them, and to one phone, address or device

    [recovery]                   # forgotten password and username (SPEC 6)
    user_burst = 3               # password recoveries started for one name (any name) ...
    user_per_hour = 12           # ... refilled at this rate
    destination_burst = 3        # recovery messages to one e-mail or phone ...
    destination_per_hour = 12
    pending_per_user = 3         # open recoveries of one user; past it new ones are refused
    max_pending = 10000          # open recoveries of real users; past it new ones are refused

    [sms]
    code_seconds = 300           # an SMS or voice code is good this long, and once
    sends_per_login = 3          # first code, resends and voice calls in one login

    [totp]
    step_seconds = 30
    digits = 6
    window = 1                   # accept the previous and the next step too
    algorithm = "sha1"
    issuer = "Login Gateway"

    [devices]
    auto_activate_days = 14      # a shipped card activates by itself this long after delivery

    [passkeys]
    rp_id = "localhost"          # the domain passkeys are bound to
    rp_name = "Login Gateway"
    origins = ["https://localhost", "http://localhost:8080"]  # login pages, on rp_id
    timeout_seconds = 120        # a registration or login ceremony
    max_per_user = 10

    [http]
    bind = "127.0.0.1:8080"      # the public address: data plane (Trio + httptools)
    admin_bind = "127.0.0.1:8081"
    # h2_bind = "127.0.0.1:8443" # the client API on Hypercorn too, for HTTP/2 (TLS: ALPN h2)
    h2c = false                  # cleartext HTTP/2 on admin and h2_bind (Upgrade, prior knowledge)
    max_body_bytes = 65536       # bodies of the gateway's own endpoints
    # certfile = "cert.pem"      # TLS on every listener when both are set
    # keyfile = "key.pem"
    backlog = 1024               # listen backlog of the public address
    max_connections = 10000      # open client connections; past it, new ones wait in the backlog
    max_header_bytes = 16384     # request line + headers (431 past it)
    max_headers = 100
    header_timeout_seconds = 10  # from a request's first byte to its last header byte
    idle_timeout_seconds = 30    # keep-alive: between requests
    body_timeout_seconds = 30    # between two pieces of a request body
    send_timeout_seconds = 30    # for the client to take an answer's next piece
    request_timeout_seconds = 60 # a whole request (head and body) to the gateway's own endpoints
    min_body_rate = 500          # bytes/s a body must keep up after body_timeout_seconds of
                                 # grace (uploads to routes too); 0: none
    max_connections_per_client = 256  # open connections of one address (trusted proxies: no cap)
    max_event_streams_per_session = 4  # open GET /v1/session/events of one session ...
    max_event_streams_per_client = 32  # ... and of one address; past either: rate_limited
    trusted_proxies = []         # CIDRs whose forwarded_header (and X-Forwarded-Host/-Proto/
                                 # -Uri/-Method from forward-auth callers) are believed
    forwarded_header = "x-forwarded-for"  # or "forwarded" (RFC 7239); never both
    ipv6_prefix = 64             # per-address limits count IPv6 clients by this prefix

    [proxy]                      # upstream connections of the reverse proxy
    connect_timeout_seconds = 5
    pool_max_idle = 64           # idle keep-alive connections kept per upstream
    pool_idle_seconds = 20       # and for how long
    buffer_body_bytes = 65536    # smaller bodies are read whole before an upstream is taken
    max_uploads_per_client = 8   # larger (or chunked) bodies streamed at once from one address

    [[routes]]                   # reverse-proxy routes, longest prefix first (none by default)
    prefix = "/app"              # matches /app and /app/..., not /apple
    upstream = "http://127.0.0.1:9000"
    session = "any"              # any | trading | portal | none (API keys only)
    api_key_scope = "app"        # API keys with this scope may pass (absent: none may)
    public = false               # true: no credential needed at all
    strip_prefix = false         # true: /app/x reaches the upstream as /x
    keep_credentials = false     # true: its cookie, bearer token or API key go upstream too
    websocket = false            # allow WebSocket upgrades
    timeout_seconds = 60         # for the upstream to answer, and between pieces of its answer
    max_body_bytes = 1073741824  # request bodies streamed upstream

    [forward_auth]               # GET /auth/verify
    login_url = "/login"         # where browsers are sent (?rd=<the URL they asked for>)
    [[forward_auth.rules]]       # matched on the forwarded URI; default: any session
    prefix = "/"
    session = "any"

    [api_keys]
    rate = 10.0                  # requests per second per key, refilled
    burst = 100
    max_per_user = 20

    [withdrawals]
    time_zone = "America/New_York"  # business days (Mon-Fri) of the 5-day window

    [withdrawal_limits]          # per method: [per day, per 5 business days]; -1 = unlimited
    none = [50000, 100000]

    [audit]
    path = "-"                   # JSON lines: "-" stdout, a file path, or "" for none

    [store]
    backend = "sqlite"           # or "memory"
    data_dir = "gateway-data"

    [secrets]                    # better set through the environment
    master_key = "<64 hex digits or base64 of 32 bytes>"
    # or: a file holding it, away from data_dir (created 0600 if missing)
    # master_key_file = "/etc/login-gateway/master.key"
    admin_token = "..."
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

MASTER_KEY_ENV = "GATEWAY_MASTER_KEY"
MASTER_KEY_FILE_ENV = "GATEWAY_MASTER_KEY_FILE"
ADMIN_TOKEN_ENV = "GATEWAY_ADMIN_TOKEN"
_DOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


class ConfigError(ValueError):
    """The configuration file cannot be read or does not validate."""


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class LockoutConfig(_Section):
    max_failures: PositiveInt = 10
    window_seconds: PositiveSeconds = 86_400.0
    lock_seconds: PositiveSeconds = 86_400.0
    attempt_ttl_seconds: PositiveSeconds = 60.0
    # Lock state of names that are no user's: in memory only, at most this
    # many names (least recently used go first, unlocked before locked).
    max_guessed_names: PositiveInt = 100_000


class SessionConfig(_Section):
    idle_timeout_seconds: PositiveSeconds = 900.0
    absolute_lifetime_seconds: PositiveSeconds = 86_400.0
    # A laptop and a phone browser both stay logged in; the cap bounds what
    # a stolen password can hold open.
    max_portal_sessions: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5


class LoginConfig(_Section):
    expiry_seconds: PositiveSeconds = 300.0


class PasswordPolicyConfig(_Section):
    min_length: PositiveInt = 6
    max_length: PositiveInt = 40

    def __post_init__(self) -> None:
        if self.max_length < self.min_length:
            raise ValueError("passwords.max_length must be at least min_length")


# The load-test profile exists so a benchmark can measure the gateway rather
# than Argon2id. It makes a password hash nearly free to brute-force: never use
# it for real users.
INSECURE_LOAD_TEST_ARGON2 = {"memory_cost_kib": 8, "iterations": 1, "lanes": 1}


class Argon2Config(_Section):
    """Argon2id cost. Default: RFC 9106's second recommended option with
    4 lanes (64 MiB, 3 passes), about 0.1-0.2 s per hash on one core.

    ``profile = "insecure-load-test"`` replaces the three cost fields with
    ``INSECURE_LOAD_TEST_ARGON2`` (8 KiB, 1 pass, 1 lane).
    """

    profile: Literal["production", "insecure-load-test"] = "production"
    memory_cost_kib: PositiveInt = 65_536
    iterations: PositiveInt = 3
    lanes: PositiveInt = 4
    salt_length: Annotated[int, msgspec.Meta(ge=8)] = 16
    hash_length: Annotated[int, msgspec.Meta(ge=16)] = 32
    max_concurrent_hashes: PositiveInt = 4
    max_queued_hashes: Annotated[int, msgspec.Meta(ge=0)] = 32
    max_hashes_per_client: PositiveInt = 4  # admitted at once from one address (untrusted)

    def __post_init__(self) -> None:
        if self.profile == "insecure-load-test":
            self.memory_cost_kib = INSECURE_LOAD_TEST_ARGON2["memory_cost_kib"]
            self.iterations = INSECURE_LOAD_TEST_ARGON2["iterations"]
            self.lanes = INSECURE_LOAD_TEST_ARGON2["lanes"]
        if self.memory_cost_kib < 8 * self.lanes:
            raise ValueError("argon2.memory_cost_kib must be at least 8 * lanes")


class RateLimitConfig(_Section):
    ip_rate: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    ip_burst: PositiveSeconds = 50.0
    user_rate: Annotated[float, msgspec.Meta(ge=0)] = 0.2
    user_burst: PositiveSeconds = 20.0
    max_keys: PositiveInt = 100_000


class LoginAdmissionConfig(_Section):
    """How many login requests the data plane lets through to the control
    plane at once; the rest wait in fair queues (gateway.edge.admission).

    One password step at a time is the default: with the default Argon2id
    cost (4 lanes) hashes run one at a time anyway, and at a cheap cost one
    at a time measured both faster and fairer than four (fewer steps
    interleaved on the event loop). With ``lanes = 1`` and several hash
    threads, raise it to ``max_concurrent_hashes``."""

    concurrency: PositiveInt = 1  # password steps at the control plane at once
    second_step_concurrency: PositiveInt = 8  # challenge/verify/confirm at once
    queue: Annotated[int, msgspec.Meta(ge=0)] = 256  # waiting, per class
    per_client: PositiveInt = 8  # admitted at once from one address (trusted devices aside)
    max_wait_seconds: PositiveSeconds = 5.0
    # Recovery asks nothing of the caller, so a flood is shed at the edge, by
    # address, before the control plane spends anything on it.
    recovery_concurrency: PositiveInt = 1
    recovery_rate: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    recovery_burst: PositiveSeconds = 5.0


class WithdrawalsConfig(_Section):
    # Business days (the 5-day window) are counted in this zone.
    time_zone: str = "America/New_York"

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"withdrawals.time_zone: unknown zone {self.time_zone!r}") from None


class NotifierConfig(_Section):
    """Where messages to users go (gateway.notify)."""

    kind: Literal["outbox", "webhook"] = "outbox"
    outbox_size: PositiveInt = 10_000  # messages kept for GET /admin/v1/outbox
    webhook_url: str | None = None
    webhook_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3
    webhook_timeout_seconds: PositiveSeconds = 5.0
    webhook_queue: PositiveInt = 10_000  # deliveries waiting; past it the oldest is dropped
    # Whoever asks (an anonymous recovery, a login), one person gets no more
    # than this: a flood of requests is not a flood of texts.
    per_user_per_minute: PositiveSeconds = 5.0
    per_destination_per_minute: PositiveSeconds = 5.0
    max_limited: PositiveInt = 100_000  # users and destinations whose limits are kept (LRU)


class RecoveryConfig(_Section):
    """Forgotten password and username (gateway.auth.recovery). The
    per-address limit is ``[login_admission] recovery_rate``; these are per
    name and per destination, the same for names nobody has."""

    user_burst: PositiveSeconds = 3.0
    user_per_hour: Annotated[float, msgspec.Meta(ge=0)] = 12.0
    destination_burst: PositiveSeconds = 3.0
    destination_per_hour: Annotated[float, msgspec.Meta(ge=0)] = 12.0
    pending_per_user: PositiveInt = 3
    max_pending: PositiveInt = 10_000


class SmsConfig(_Section):
    code_seconds: PositiveSeconds = 300.0  # how long a code is good
    sends_per_login: PositiveInt = 3  # codes sent (first, resends, voice) in one login


class TotpConfig(_Section):
    step_seconds: PositiveInt = 30
    digits: Annotated[int, msgspec.Meta(ge=6, le=8)] = 6
    window: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha1"
    issuer: str = "Login Gateway"


class DevicesConfig(_Section):
    # A card support ships is pending until its holder activates it, or
    # until this long after its delivery date (SPEC 4, FAQ item 8).
    auto_activate_days: Annotated[float, msgspec.Meta(ge=0)] = 14.0


class PasskeyConfig(_Section):
    """WebAuthn (DESIGN.md, "Passkeys"): the relying party a passkey is bound
    to, and the pages allowed to use it."""

    rp_id: str = "localhost"  # a domain, no scheme or port
    rp_name: str = "Login Gateway"
    # Where the WebAuthn ceremony may run: the login pages' origins, each on
    # rp_id or a subdomain of it (an app's "android:apk-key-hash:..." too).
    origins: list[str] = msgspec.field(
        default_factory=lambda: ["https://localhost", "http://localhost:8080"]
    )
    timeout_seconds: Annotated[float, msgspec.Meta(ge=10, le=600)] = 120.0
    max_per_user: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10

    def __post_init__(self) -> None:
        rp_id = self.rp_id
        if not _DOMAIN.fullmatch(rp_id):
            raise ValueError(f"passkeys.rp_id: a domain name without scheme or port, not {rp_id!r}")
        if not self.origins:
            raise ValueError("passkeys.origins: at least one origin")
        for origin in self.origins:
            if origin.startswith("android:apk-key-hash:"):
                continue
            parts = urlsplit(origin)
            try:
                port = parts.port  # a ValueError when it is not a number
            except ValueError:
                port = -1
            host = parts.hostname or ""
            # An origin is compared to the browser's as a string: exactly
            # scheme://host[:port], nothing after it.
            if origin != f"{parts.scheme}://{host}" + (f":{port}" if port else ""):
                raise ValueError(f"passkeys.origins: {origin!r} is not scheme://host[:port]")
            if parts.scheme not in ("https", "http") or not _DOMAIN.fullmatch(host):
                raise ValueError(f"passkeys.origins: {origin!r} is not an https origin")
            if host != rp_id and not host.endswith("." + rp_id):
                raise ValueError(f"passkeys.origins: {origin!r} is not on rp_id {rp_id!r}")
            if parts.scheme == "http" and host != "localhost":
                raise ValueError(f"passkeys.origins: {origin!r}: http only on localhost")


class HttpConfig(_Section):
    bind: str = "127.0.0.1:8080"
    admin_bind: str = "127.0.0.1:8081"
    h2_bind: str | None = None
    h2c: bool = False  # cleartext HTTP/2 on the Hypercorn listeners (admin, h2_bind)
    max_body_bytes: PositiveInt = 65_536
    # TLS termination on every listener when both files are given (PEM);
    # HTTP/2 through ALPN on the Hypercorn ones (admin, h2_bind).
    certfile: str | None = None
    keyfile: str | None = None
    backlog: PositiveInt = 1024
    max_connections: PositiveInt = 10_000
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 16_384
    max_headers: PositiveInt = 100
    header_timeout_seconds: PositiveSeconds = 10.0
    idle_timeout_seconds: PositiveSeconds = 30.0
    body_timeout_seconds: PositiveSeconds = 30.0
    send_timeout_seconds: PositiveSeconds = 30.0
    request_timeout_seconds: PositiveSeconds = 60.0
    min_body_rate: Annotated[float, msgspec.Meta(ge=0)] = 500.0
    max_connections_per_client: PositiveInt = 256
    max_event_streams_per_session: PositiveInt = 4
    max_event_streams_per_client: PositiveInt = 32
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # The one header a trusted proxy names the client in; the other is ignored.
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    ipv6_prefix: Annotated[int, msgspec.Meta(ge=32, le=128)] = 64

    def __post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("http.certfile and http.keyfile go together")
        for network in self.trusted_proxies:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"http.trusted_proxies: {network!r} is not a CIDR") from None


SessionRequirement = Literal["any", "trading", "portal", "none"]


class AccessRule(_Section):
    """Who may pass a path prefix: sessions of a kind, API keys of a scope,
    or anyone (``public``)."""

    prefix: Annotated[str, msgspec.Meta(pattern="^/")] = "/"
    session: SessionRequirement = "any"
    api_key_scope: str | None = None
    public: bool = False


class RouteConfig(AccessRule):
    upstream: str = ""
    strip_prefix: bool = False
    # The gateway's own credential (session cookie, bearer token, API key)
    # goes upstream only when a route asks for it.
    keep_credentials: bool = False
    websocket: bool = False
    timeout_seconds: PositiveSeconds = 60.0
    max_body_bytes: PositiveInt = 1 << 30

    def __post_init__(self) -> None:
        if not self.upstream:
            raise ValueError(f"route {self.prefix!r} needs an upstream")
        if not (self.upstream.startswith("http://") or self.upstream.startswith("unix:")):
            raise ValueError(f"route {self.prefix!r}: upstream is http://host:port or unix:/path")


class ProxyConfig(_Section):
    connect_timeout_seconds: PositiveSeconds = 5.0
    pool_max_idle: Annotated[int, msgspec.Meta(ge=0)] = 64
    pool_idle_seconds: PositiveSeconds = 20.0
    # Bodies up to this size are read whole before an upstream connection is
    # taken, so a slow sender holds no upstream; larger or chunked ones
    # stream, at most max_uploads_per_client at once from one address.
    buffer_body_bytes: Annotated[int, msgspec.Meta(ge=0)] = 65_536
    max_uploads_per_client: PositiveInt = 8


class ForwardAuthConfig(_Section):
    login_url: str = "/login"
    rules: list[AccessRule] = msgspec.field(default_factory=lambda: [AccessRule()])


class ApiKeyConfig(_Section):
    rate: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    burst: PositiveSeconds = 100.0
    max_per_user: PositiveInt = 20


# SPEC 4: [per day, per 5 business days] by the method that authenticated a
# session, in whole currency units; -1 is unlimited.
DEFAULT_WITHDRAWAL_LIMITS: dict[str, list[int]] = {
    "none": [50_000, 100_000],
    "sms": [200_000, 600_000],
    "totp": [1_000_000, 1_000_000],
    "ibkey": [1_000_000, 1_000_000],
    "scc": [200_000, 600_000],
    "online_card": [200_000, 600_000],
    "dsc": [1_000_000, 1_500_000],
    "dscplus": [-1, -1],
    "platinum": [-1, -1],
    "gold": [-1, -1],
    "passkey": [1_000_000, 1_000_000],
    "temp_passcode": [50_000, 100_000],
    "api_key": [50_000, 100_000],
}


class AuditConfig(_Section):
    path: str = "-"


class StoreConfig(_Section):
    backend: Literal["sqlite", "memory"] = "sqlite"
    data_dir: str = "gateway-data"


class SecretsConfig(_Section):
    """Secrets; the environment overrides the file. Never shown in a repr."""

    master_key: str | None = None
    master_key_file: str | None = None  # a path; default <data_dir>/master.key
    admin_token: str | None = None

    def __repr__(self) -> str:
        def shown(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"SecretsConfig(master_key={shown(self.master_key)}, "
            f"admin_token={shown(self.admin_token)})"
        )


class Config(_Section):
    lockout: LockoutConfig = msgspec.field(default_factory=LockoutConfig)
    sessions: SessionConfig = msgspec.field(default_factory=SessionConfig)
    login: LoginConfig = msgspec.field(default_factory=LoginConfig)
    passwords: PasswordPolicyConfig = msgspec.field(default_factory=PasswordPolicyConfig)
    argon2: Argon2Config = msgspec.field(default_factory=Argon2Config)
    rate_limits: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)
    login_admission: LoginAdmissionConfig = msgspec.field(default_factory=LoginAdmissionConfig)
    notifier: NotifierConfig = msgspec.field(default_factory=NotifierConfig)
    recovery: RecoveryConfig = msgspec.field(default_factory=RecoveryConfig)
    withdrawals: WithdrawalsConfig = msgspec.field(default_factory=WithdrawalsConfig)
    sms: SmsConfig = msgspec.field(default_factory=SmsConfig)
    totp: TotpConfig = msgspec.field(default_factory=TotpConfig)
    passkeys: PasskeyConfig = msgspec.field(default_factory=PasskeyConfig)
    devices: DevicesConfig = msgspec.field(default_factory=DevicesConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    proxy: ProxyConfig = msgspec.field(default_factory=ProxyConfig)
    routes: list[RouteConfig] = msgspec.field(default_factory=list)
    forward_auth: ForwardAuthConfig = msgspec.field(default_factory=ForwardAuthConfig)
    api_keys: ApiKeyConfig = msgspec.field(default_factory=ApiKeyConfig)
    withdrawal_limits: dict[str, list[int]] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_WITHDRAWAL_LIMITS)
    )
    audit: AuditConfig = msgspec.field(default_factory=AuditConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    secrets: SecretsConfig = msgspec.field(default_factory=SecretsConfig)


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read the TOML file at ``path`` (defaults only when ``None``), then apply
    the secret overrides from ``env`` (``os.environ`` when ``None``)."""
    config = Config() if path is None else _decode_file(Path(path))
    environ = os.environ if env is None else env
    secrets = config.secrets
    if environ.get(MASTER_KEY_ENV):
        secrets = msgspec.structs.replace(secrets, master_key=environ[MASTER_KEY_ENV])
    if environ.get(MASTER_KEY_FILE_ENV):
        secrets = msgspec.structs.replace(secrets, master_key_file=environ[MASTER_KEY_FILE_ENV])
    if environ.get(ADMIN_TOKEN_ENV):
        secrets = msgspec.structs.replace(secrets, admin_token=environ[ADMIN_TOKEN_ENV])
    limits = {**DEFAULT_WITHDRAWAL_LIMITS, **config.withdrawal_limits}
    for method, pair in limits.items():
        if len(pair) != 2 or any(v < -1 for v in pair):
            raise ConfigError(f"withdrawal_limits.{method}: [per day, per 5 days], -1 = unlimited")
    return msgspec.structs.replace(config, secrets=secrets, withdrawal_limits=limits)


def _decode_file(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return msgspec.toml.decode(raw, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
