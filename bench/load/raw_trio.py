"""The data plane's ceiling: a raw ``trio.serve_tcp`` loop with ``httptools``
parsing, answering every request with 200 and two bytes, nothing else: what
Trio and llhttp cost per request on this machine, before any gateway logic.

    python -m bench.load.raw_trio --bind 127.0.0.1:0

prints ``{"event": "listening", "public": ["http://127.0.0.1:PORT"]}`` when
ready and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import functools
import signal

import httptools
import trio

from gateway.serve import announce

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


class _Requests:
    """Counts whole requests (pipelined ones included)."""

    def __init__(self) -> None:
        self.complete = 0

    def on_message_complete(self) -> None:
        self.complete += 1


async def handle(stream: trio.SocketStream) -> None:
    requests = _Requests()
    parser = httptools.HttpRequestParser(requests)
    try:
        while data := await stream.receive_some(65536):
            parser.feed_data(data)
            if requests.complete:
                await stream.send_all(OK * requests.complete)
                requests.complete = 0
    except (httptools.HttpParserError, trio.BrokenResourceError):
        pass
    finally:
        await stream.aclose()


async def serve(bind: str) -> None:
    host, _, port = bind.rpartition(":")
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handle, int(port), host=host, backlog=1024)
        )
        address = listeners[0].socket.getsockname()
        announce("listening", public=[f"http://{address[0]}:{address[1]}"])
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load.raw_trio")
    parser.add_argument("--bind", default="127.0.0.1:0")
    trio.run(serve, parser.parse_args(argv).bind)


if __name__ == "__main__":
    main()
