from __future__ import annotations

import pytest

from gateway import errors
from gateway.errors import (
    ALL_ERRORS,
    BadCharacter,
    GatewayError,
    InvalidCredentials,
    Locked,
    LoginFailed,
    RateLimited,
    SessionExists,
)

SPEC_CODES = {
    "bad_character",
    "invalid_credentials",
    "login_failed",
    "locked",
    "rate_limited",
    "session_exists",
    "session_replaced",
    "session_expired",
    "unauthenticated",
    "forbidden",
    "bad_request",
    "not_found",
    "unavailable",
    "internal_error",
}


def test_one_class_per_spec_code() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert sorted(codes) == sorted(SPEC_CODES)
    assert all(issubclass(cls, GatewayError) for cls in ALL_ERRORS)


def test_every_error_class_in_the_module_is_listed() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type)
        and issubclass(obj, GatewayError)
        and not obj.__name__.startswith("_")
    }
    assert defined - {GatewayError} == set(ALL_ERRORS)
    assert errors.InternalError.status == 500 and errors.Unavailable.status == 503
    assert "Retry-After" in errors.Unavailable().headers()


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (BadCharacter, "BAD CHARACTER"),
        (InvalidCredentials, "Invalid user name password combination"),
        (LoginFailed, "Login failed"),
    ],
)
def test_spec_messages_are_exact(cls: type[GatewayError], message: str) -> None:
    assert cls().body() == {"error": cls.code, "message": message}


def test_session_exists_names_the_existing_session() -> None:
    error = SessionExists("tws", 1_700_000_000.5, login_id="abc")
    assert error.status == 409
    assert error.body() == {
        "error": "session_exists",
        "message": "Another session already exists",
        "platform": "tws",
        "started_at": 1_700_000_000.5,
        "login_id": "abc",
    }


@pytest.mark.parametrize("cls", [Locked, RateLimited])
def test_waits_round_up_to_whole_seconds(cls: type[Locked] | type[RateLimited]) -> None:
    error = cls(2.1)
    assert error.retry_after == 3
    assert error.body()["retry_after"] == 3
    assert error.headers() == {"Retry-After": "3"}


def test_statuses() -> None:
    statuses = {cls.code: cls.status for cls in ALL_ERRORS}
    assert statuses["rate_limited"] == 429
    assert statuses["session_exists"] == 409
    assert statuses["not_found"] == 404
    assert statuses["forbidden"] == 403
    assert statuses["bad_request"] == statuses["bad_character"] == 400
    assert statuses["invalid_credentials"] == statuses["unauthenticated"] == 401
    assert statuses["unavailable"] == 503 and statuses["internal_error"] == 500
    client_faults = {
        c: s for c, s in statuses.items() if c not in ("unavailable", "internal_error")
    }
    assert all(400 <= s < 500 for s in client_faults.values())


def test_errors_without_extra_fields_have_no_headers() -> None:
    assert InvalidCredentials().headers() == {}
    assert "retry_after" not in InvalidCredentials().body()
