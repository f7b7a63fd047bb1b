"""The notifier front: every message to a person passes one limit per user
and one per destination, whatever asked for it."""

from __future__ import annotations

import pytest

from gateway.clock import TestClock
from gateway.config import NotifierConfig
from gateway.errors import RateLimited
from gateway.notify import Outbox, build_notifier


def outbox(clock: TestClock, **limits: float) -> Outbox:
    return Outbox(clock, 100, NotifierConfig(**limits))  # type: ignore[arg-type]


def test_a_user_gets_a_few_messages_a_minute_whatever_asked() -> None:
    clock = TestClock()
    box = outbox(clock, per_user_per_minute=5, per_destination_per_minute=100)
    sent = [box.send("sms", f"+1555000{n:04d}", "code", "1", user="alice") for n in range(8)]
    assert [m is not None for m in sent] == [True] * 5 + [False] * 3
    assert len(box.messages()) == 5 and box.held_back == 3
    assert box.send("email", "bob@example.com", "hello", user="bob") is not None
    clock.advance(12)  # one more token a minute / 5
    assert box.send("push", "device1", "wake", user="alice") is not None
    assert box.send("push", "device1", "wake", user="alice") is None


def test_a_destination_is_limited_for_every_user_of_it() -> None:
    clock = TestClock()
    box = outbox(clock, per_user_per_minute=100, per_destination_per_minute=3)
    sent = [box.send("email", "desk@example.com", "x", user=f"u{n}") for n in range(5)]
    assert [m is not None for m in sent] == [True, True, True, False, False]
    assert box.send("email", "other@example.com", "x", user="u9") is not None


def test_a_message_held_back_by_one_limit_costs_nothing_from_the_other() -> None:
    clock = TestClock()
    box = outbox(clock, per_user_per_minute=2, per_destination_per_minute=2)
    assert box.send("sms", "+15550001", "x", user="alice")
    assert box.send("sms", "+15550001", "x", user="alice")
    assert box.send("sms", "+15550001", "x", user="bob") is None  # the number is spent
    assert box.send("sms", "+15550002", "x", user="bob")  # bob's tokens are all there
    assert box.send("sms", "+15550003", "x", user="bob")


def test_send_or_refuse_says_when_to_come_back() -> None:
    clock = TestClock()
    box = outbox(clock, per_user_per_minute=1, per_destination_per_minute=10)
    box.send_or_refuse("sms", "+15550001", "code", "123456", user="alice")
    with pytest.raises(RateLimited) as refused:
        box.send_or_refuse("sms", "+15550001", "code", "654321", user="alice")
    assert refused.value.retry_after == 60 and refused.value.code == "rate_limited"
    assert [m.code for m in box.messages()] == ["123456"]


def test_limits_refill_with_real_time_under_the_test_clock() -> None:
    clock = TestClock()
    box = build_notifier(NotifierConfig(per_user_per_minute=1), clock)
    assert box.send("sms", "+15550001", "x", user="alice")
    assert box.send("sms", "+15550001", "x", user="alice") is None
    clock.advance(60)  # moving the test clock refills too (a RefillClock)
    assert box.send("sms", "+15550001", "x", user="alice")
