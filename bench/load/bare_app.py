"""The serving stack's ceiling: Hypercorn's trio worker and an ASGI app that
answers every request with 200 and two bytes, nothing else.

It runs with the gateway's own Hypercorn settings (``gateway.serve``), so the
ratio "gateway session checks / bare app requests" is what the gateway's
handler costs on top of the server it runs in.

    python -m bench.load.bare_app --bind 127.0.0.1:0

prints ``{"event": "listening", "public": ["http://127.0.0.1:PORT"]}`` when
ready, like ``login-gateway serve``, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import hypercorn.trio
import trio

from gateway.config import Config
from gateway.serve import announce, hypercorn_config

Message = MutableMapping[str, Any]

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}
_BODY = {"type": "http.response.body", "body": b"ok"}


async def lifespan(
    receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    """The ASGI lifespan protocol of an app with nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def ok_app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await send(_START)
    await send(_BODY)


async def serve(bind: str) -> None:
    shutdown = trio.Event()

    async def stop_on_signal() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                shutdown.set()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal)
        bound = await nursery.start(
            lambda task_status: hypercorn.trio.serve(
                ok_app,  # type: ignore[arg-type]
                hypercorn_config(bind, Config()),
                shutdown_trigger=shutdown.wait,
                task_status=task_status,
            )
        )
        announce("listening", public=bound)
        await shutdown.wait()
        # hypercorn.trio.serve returns once it has drained; then the signal task is done.


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load.bare_app")
    parser.add_argument("--bind", default="127.0.0.1:0")
    args = parser.parse_args(argv)
    trio.run(serve, args.bind)


if __name__ == "__main__":
    main()
