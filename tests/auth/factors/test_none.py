from __future__ import annotations

from gateway.auth.factors import PasswordOnly, default_factors


def test_password_only_has_the_lowest_tier() -> None:
    none = default_factors()["none"]
    assert isinstance(none, PasswordOnly)
    assert (none.tier.daily_limit, none.tier.five_day_limit) == (50_000, 100_000)
    assert none.tier.daily_limit < default_factors()["totp"].tier.daily_limit  # type: ignore[operator]


def test_password_only_has_nothing_to_send() -> None:
    assert PasswordOnly().issue_challenge([], 0.0).public() == {}
