from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import (
    INSECURE_LOAD_TEST_ARGON2,
    Argon2Config,
    Config,
    ConfigError,
    load_config,
)


def test_defaults_are_the_spec_numbers() -> None:
    config = load_config(None, env={})
    assert config.lockout.max_failures == 10
    assert config.lockout.window_seconds == 24 * 3600
    assert config.lockout.lock_seconds == 24 * 3600
    assert config.sessions.idle_timeout_seconds == 15 * 60
    assert config.sessions.absolute_lifetime_seconds == 24 * 3600
    assert (config.passwords.min_length, config.passwords.max_length) == (6, 40)
    assert (config.totp.step_seconds, config.totp.digits, config.totp.window) == (30, 6, 1)
    assert config.totp.algorithm == "sha1"
    assert config.store.backend == "sqlite"


def test_default_argon2_is_a_production_cost() -> None:
    argon2 = Argon2Config()
    assert argon2.profile == "production"
    assert argon2.memory_cost_kib == 64 * 1024
    assert argon2.iterations == 3
    assert argon2.lanes == 4


def test_insecure_load_test_profile_replaces_the_cost() -> None:
    argon2 = Argon2Config(profile="insecure-load-test", memory_cost_kib=1 << 20)
    assert argon2.memory_cost_kib == INSECURE_LOAD_TEST_ARGON2["memory_cost_kib"]
    assert argon2.iterations == 1
    assert argon2.lanes == 1


def test_file_values_override_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[lockout]\nmax_failures = 5\n\n[sessions]\nidle_timeout_seconds = 60\n\n"
        '[argon2]\nprofile = "insecure-load-test"\n\n[store]\nbackend = "memory"\n'
    )
    config = load_config(path, env={})
    assert config.lockout.max_failures == 5
    assert config.lockout.window_seconds == 86_400  # untouched default
    assert config.sessions.idle_timeout_seconds == 60
    assert config.argon2.iterations == 1
    assert config.store.backend == "memory"


@pytest.mark.parametrize(
    "text",
    [
        "[lockout]\nmax_failure = 5\n",  # misspelt key
        "[lockout]\nmax_failures = 0\n",
        "[sessions]\nidle_timeout_seconds = -1\n",
        "[passwords]\nmin_length = 10\nmax_length = 8\n",
        "[argon2]\nmemory_cost_kib = 8\nlanes = 4\n",
        "[store]\nbackend = 'postgres'\n",
        "[passkeys]\nrp_id = 'https://example.com'\n",  # a domain, not an origin
        "[passkeys]\nrp_id = 'example.com'\norigins = ['https://example.com.evil.net']\n",
        "[passkeys]\nrp_id = 'example.com'\norigins = ['http://login.example.com']\n",
        "[passkeys]\norigins = []\n",
        "[passkeys]\norigins = ['https://localhost/']\n",  # the browser sends no slash
        "[passkeys]\norigins = ['https://localhost:http']\n",
        "not toml at all [",
    ],
)
def test_invalid_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path, env={})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.toml", env={})


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[secrets]\nmaster_key = "from-file"\nadmin_token = "file-token"\n')
    config = load_config(
        path, env={"GATEWAY_MASTER_KEY": "from-env", "GATEWAY_ADMIN_TOKEN": "env-token"}
    )
    assert config.secrets.master_key == "from-env"
    assert config.secrets.admin_token == "env-token"
    assert load_config(path, env={}).secrets.master_key == "from-file"


def test_secrets_never_appear_in_a_repr() -> None:
    config = load_config(None, env={"GATEWAY_ADMIN_TOKEN": "hunter2-token"})
    assert "hunter2-token" not in repr(config)
    assert "hunter2-token" not in repr(config.secrets)
    assert Config().secrets.admin_token is None
