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

from gateway.clock import Clock
from gateway.config import NotifierConfig

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
    def send(self, channel: Channel, to: str, text: str, code: str | None = None) -> Message:
        """Queue a message (never blocks) and return it."""
        ...


class Outbox:
    def __init__(self, clock: Clock, size: int = 10_000) -> None:
        self._clock = clock
        self._messages: deque[Message] = deque(maxlen=size)
        self._ids = itertools.count(1)

    def send(self, channel: Channel, to: str, text: str, code: str | None = None) -> Message:
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
    def __init__(self, clock: Clock, config: NotifierConfig) -> None:
        super().__init__(clock, config.outbox_size)
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

    def send(self, channel: Channel, to: str, text: str, code: str | None = None) -> Message:
        message = super().send(channel, to, text, code)
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
    if config.kind == "webhook":
        return WebhookNotifier(clock, config)
    return Outbox(clock, config.outbox_size)
