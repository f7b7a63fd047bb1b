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

    [sessions]
    idle_timeout_seconds = 900
    absolute_lifetime_seconds = 86400

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

    [rate_limits]
    ip_rate = 5.0                # login attempts per second per client IP, refilled
    ip_burst = 50
    user_rate = 0.2              # login attempts per second per username (12 a minute)
    user_burst = 20
    max_keys = 100000

    [totp]
    step_seconds = 30
    digits = 6
    window = 1                   # accept the previous and the next step too
    algorithm = "sha1"
    issuer = "Login Gateway"

    [http]
    bind = "127.0.0.1:8080"
    admin_bind = "127.0.0.1:8081"
    max_body_bytes = 65536
    # certfile = "cert.pem"      # TLS (and HTTP/2) when both are set
    # keyfile = "key.pem"

    [store]
    backend = "sqlite"           # or "memory"
    data_dir = "gateway-data"

    [secrets]                    # better set through the environment
    master_key = "<64 hex digits or base64 of 32 bytes>"
    admin_token = "..."
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

MASTER_KEY_ENV = "GATEWAY_MASTER_KEY"
ADMIN_TOKEN_ENV = "GATEWAY_ADMIN_TOKEN"


class ConfigError(ValueError):
    """The configuration file cannot be read or does not validate."""


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class LockoutConfig(_Section):
    max_failures: PositiveInt = 10
    window_seconds: PositiveSeconds = 86_400.0
    lock_seconds: PositiveSeconds = 86_400.0
    attempt_ttl_seconds: PositiveSeconds = 60.0


class SessionConfig(_Section):
    idle_timeout_seconds: PositiveSeconds = 900.0
    absolute_lifetime_seconds: PositiveSeconds = 86_400.0


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


class TotpConfig(_Section):
    step_seconds: PositiveInt = 30
    digits: Annotated[int, msgspec.Meta(ge=6, le=8)] = 6
    window: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha1"
    issuer: str = "Login Gateway"


class HttpConfig(_Section):
    bind: str = "127.0.0.1:8080"
    admin_bind: str = "127.0.0.1:8081"
    max_body_bytes: PositiveInt = 65_536
    # TLS termination (and HTTP/2 through ALPN) on both listeners when both
    # files are given; PEM format.
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("http.certfile and http.keyfile go together")


class StoreConfig(_Section):
    backend: Literal["sqlite", "memory"] = "sqlite"
    data_dir: str = "gateway-data"


class SecretsConfig(_Section):
    """Secrets; the environment overrides the file. Never shown in a repr."""

    master_key: str | None = None
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
    totp: TotpConfig = msgspec.field(default_factory=TotpConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
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
    if environ.get(ADMIN_TOKEN_ENV):
        secrets = msgspec.structs.replace(secrets, admin_token=environ[ADMIN_TOKEN_ENV])
    return msgspec.structs.replace(config, secrets=secrets)


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
