"""Messages to users (SMS, voice, e-mail, push) through one ``Notifier``
(SPEC 4; DESIGN.md, "Notifier outbox").

- ``Outbox`` (the default) keeps every message, the newest
  ``outbox_size`` of them, in memory: support reads them at
  ``GET /admin/v1/outbox`` and the command line with
  ``login-gateway outbox``. Tests and load tests read codes there, as a
  person reads their phone.
- ``WebhookNotifier`` keeps the outbox too and POSTs each message as JSON to
  ``[notifier] webhook_url``, where a real SMS/voice/push provider sits. It
  never blocks a login: ``send`` only queues (a full queue drops the oldest
  delivery and counts it); a task delivers with bounded retries and backoff.

Every message passes ``Outbox.send``, so the limits that protect a person
live there, whatever asked for the message (a login, an anonymous
recovery, support): at most ``[notifier] per_user_per_minute`` to one user
(callers name the user the message is for) and
``per_destination_per_minute`` to one phone number, e-mail address or IB Key
device. A message past either is held back, never queued. ``send`` then
returns ``None`` and the caller decides what its client sees (a recovery
answers as always, so nothing reveals who exists); ``send_or_refuse``
raises ``rate_limited`` with ``Retry-After`` instead, for callers whose
client has proved who it is (a login's SMS after the right password).

A message carries no secret but the one-time code it exists to deliver.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import Literal, Protocol

import httpx
import msgspec
import trio

import _fastcore
from gateway.clock import Clock, RefillClock, TestClock
from gateway.config import NotifierConfig
from gateway.errors import RateLimited

log = logging.getLogger("gateway.notify")

Channel = Literal["sms", "voice", "email", "push"]


class Message(msgspec.Struct, kw_only=True):
    id: int
    channel: Channel
    to: str
    text: str
    code: str | None = None
    created_at: float


class Notifier(Protocol):
    def send(
        self,
        channel: Channel,
        to: str,
        text: str,
        code: str | None = None,
        *,
        user: str | None = None,
    ) -> Message | None:
        """Queue a message for ``user`` (never blocks) and return it, or
        ``None`` when the person's limits hold it back."""
        ...

    def send_or_refuse(
        self,
        channel: Channel,
        to: str,
        text: str,
        code: str | None = None,
        *,
        user: str | None = None,
    ) -> Message:
        """``send``, raising ``RateLimited`` when the message is held back."""
        ...


class Outbox:
    def __init__(
        self,
        clock: Clock,
        size: int = 10_000,
        limits: NotifierConfig | None = None,
        bucket_clock: Clock | None = None,
    ) -> None:
        """``bucket_clock``: the time the limits refill on (default
        ``clock``; under a test clock, a ``RefillClock``)."""
        limits = limits if limits is not None else NotifierConfig()
        self._clock = clock
        self._bucket_clock = bucket_clock or clock
        self._messages: deque[Message] = deque(maxlen=size)
        self._ids = itertools.count(1)
        per_user, per_destination = limits.per_user_per_minute, limits.per_destination_per_minute
        self._per_user = _fastcore.TokenBuckets(per_user / 60, per_user, limits.max_limited)
        self._per_destination = _fastcore.TokenBuckets(
            per_destination / 60, per_destination, limits.max_limited
        )
        self.held_back = 0

    def send(
        self,
        channel: Channel,
        to: str,
        text: str,
        code: str | None = None,
        *,
        user: str | None = None,
    ) -> Message | None:
        if self._wait(to, user) > 0:
            self.held_back += 1
            return None
        return self._keep(channel, to, text, code)

    def send_or_refuse(
        self,
        channel: Channel,
        to: str,
        text: str,
        code: str | None = None,
        *,
        user: str | None = None,
    ) -> Message:
        wait = self._wait(to, user)
        if wait > 0:
            self.held_back += 1
            raise RateLimited(wait, "Too many messages to you just now; try again later")
        return self._keep(channel, to, text, code)

    def _wait(self, to: str, user: str | None) -> float:
        """Seconds until a message to ``to`` (for ``user``) may go; 0 takes
        its tokens. Both limits are read before either is taken, so a
        message held back by one costs nothing from the other."""
        now = self._bucket_clock.now()
        wait = self._per_destination.retry_after(to, now)
        if user is not None:
            wait = max(wait, self._per_user.retry_after(user, now))
        if wait > 0:
            return wait
        self._per_destination.take(to, now)
        if user is not None:
            self._per_user.take(user, now)
        return 0.0

    def _keep(self, channel: Channel, to: str, text: str, code: str | None) -> Message:
        message = Message(
            id=next(self._ids),
            channel=channel,
            to=to,
            text=text,
            code=code,
            created_at=self._clock.now(),
        )
        self._messages.append(message)
        return message

    def messages(self, *, to: str | None = None, after: int = 0, limit: int = 100) -> list[Message]:
        """The kept messages with ``id > after`` (to ``to``, if given),
        oldest first, at most ``limit``."""
        found = []
        for message in self._messages:
            if message.id > after and (to is None or message.to == to):
                found.append(message)
                if len(found) >= limit:
                    break
        return found

    async def run(self) -> None:
        """Nothing to deliver: the outbox is the destination."""


_encode = msgspec.json.Encoder().encode


class WebhookNotifier(Outbox):
    def __init__(
        self, clock: Clock, config: NotifierConfig, bucket_clock: Clock | None = None
    ) -> None:
        super().__init__(clock, config.outbox_size, config, bucket_clock)
        if not config.webhook_url:
            raise ValueError("notifier.webhook_url is needed with kind = webhook")
        self._url = config.webhook_url
        self._retries = config.webhook_retries
        self._timeout = config.webhook_timeout_seconds
        self._pending: deque[Message] = deque(maxlen=config.webhook_queue)
        self._wake = trio.Event()
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def _keep(self, channel: Channel, to: str, text: str, code: str | None) -> Message:
        message = super()._keep(channel, to, text, code)
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1  # the oldest waiting delivery gives way
        self._pending.append(message)
        self._wake.set()
        return message

    async def run(self) -> None:
        """Deliver queued messages, one at a time, until cancelled."""
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while True:
                if not self._pending:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                await self._deliver(client, self._pending.popleft())

    async def _deliver(self, client: httpx.AsyncClient, message: Message) -> None:
        payload = _encode(message)
        delay = 0.5
        for attempt in range(1 + self._retries):
            try:
                answer = await client.post(
                    self._url, content=payload, headers={"Content-Type": "application/json"}
                )
                if answer.status_code < 500 and answer.status_code != 429:
                    if answer.is_success:
                        self.delivered += 1
                    else:
                        self.failed += 1
                        log.warning(
                            "webhook refused message %d: %d", message.id, answer.status_code
                        )
                    return
            except httpx.HTTPError as error:
                log.warning("webhook delivery of message %d failed: %s", message.id, error)
            if attempt < self._retries:
                await trio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.warning("webhook gave up on message %d after %d tries", message.id, 1 + self._retries)


def build_notifier(config: NotifierConfig, clock: Clock) -> Outbox:
    # SPEC 7: limits refill with real time under the test clock too.
    bucket_clock = RefillClock(clock) if isinstance(clock, TestClock) else clock
    if config.kind == "webhook":
        return WebhookNotifier(clock, config, bucket_clock)
    return Outbox(clock, config.outbox_size, config, bucket_clock)
