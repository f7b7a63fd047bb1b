"""A proxied WebSocket after the upstream's ``101``: bytes pumped both ways.

The tunnel ends when either side closes (the other one is then closed
too), or when ``end(reason)`` is called because the credential behind it
ended (session replaced, expired or ended; API key revoked). Then each side
is told why, in a Close frame with code 1008 and the reason, so that a
client can tell it from a network failure: the pumps stop at the next frame
boundary (a frame in flight is passed on whole first, within
``CLOSE_GRACE_SECONDS``), the gateway writes Close to the client as a
server frame and to the upstream as a (masked) client frame, then closes
both connections after a short lingering read. A side whose frame in flight
does not end in time gets a bare close: a Close frame in mid-frame would be
garbage to it.

Frame boundaries come from ``websocket.FrameCursor``, which reads frame
headers only. A pump is cut only while it waits to read at a boundary,
never in mid-send, so no frame is ever half written.
"""

from __future__ import annotations

import contextlib

import trio

from gateway.edge.streams import RawSocketStream
from gateway.edge.websocket import POLICY_VIOLATION, FrameCursor, close_frame

PUMP_SIZE = 65_536
CLOSE_GRACE_SECONDS = 2.0  # for frames in flight to end, then for each side's answering Close
LINGER_BYTES = 1 << 20
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Direction:
    """One direction of the tunnel and how far its frames have passed."""

    __slots__ = ("cursor", "done", "masked", "scope", "sending", "sink", "source", "stopping")

    def __init__(self, source: trio.abc.Stream, sink: trio.abc.Stream, masked: bool) -> None:
        self.source = source
        self.sink = sink
        self.masked = masked  # frames to the upstream are client frames
        self.cursor = FrameCursor()
        self.scope = trio.CancelScope()
        self.sending = False
        self.stopping = False
        self.done = trio.Event()

    def stop(self) -> None:
        """Stop at the next boundary: at once if the pump waits to read at
        one (a cancelled read loses nothing), else after its frame."""
        self.stopping = True
        if not self.sending and self.cursor.at_boundary:
            self.scope.cancel()

    @property
    def clean(self) -> bool:
        """Nothing half sent: a frame of our own may follow."""
        return not self.sending and self.cursor.at_boundary


class Tunnel:
    def __init__(self, client: trio.abc.Stream, upstream: trio.abc.Stream) -> None:
        self._to_upstream = _Direction(client, upstream, masked=True)
        self._to_client = _Direction(upstream, client, masked=False)
        self._ending = trio.Event()
        self.reason: str | None = None

    def end(self, reason: str) -> None:
        """Close the tunnel, telling both sides ``reason`` (callable from any
        task of the loop, e.g. a session listener; the first reason wins)."""
        if self.reason is None:
            self.reason = reason
            self._ending.set()

    async def run(self, to_upstream: bytes, to_client: bytes) -> None:
        """Pump until the tunnel is over; ``to_upstream``/``to_client`` are
        bytes that came with the handshake heads."""
        async with trio.open_nursery() as nursery:
            tunnel = nursery.cancel_scope
            nursery.start_soon(self._pump, self._to_upstream, to_upstream, tunnel)
            nursery.start_soon(self._pump, self._to_client, to_client, tunnel)
            nursery.start_soon(self._close_on_end, tunnel)

    async def _pump(self, side: _Direction, first: bytes, tunnel: trio.CancelScope) -> None:
        source, sink, cursor = side.source, side.sink, side.cursor
        with side.scope, contextlib.suppress(*_GONE):
            data = first
            while True:
                if data:
                    if side.stopping:
                        if cursor.at_boundary:
                            break  # read as the end came: not passed on
                        data = data[: cursor.feed(data, to_boundary=True)]  # the frame's rest only
                    else:
                        cursor.feed(data)  # before the send: ``sending`` covers the gap
                    side.sending = True
                    await sink.send_all(data)
                    side.sending = False
                size = PUMP_SIZE
                if side.stopping:
                    size = min(cursor.until_boundary(), PUMP_SIZE)
                    if not size:
                        break
                data = bytes(await source.receive_some(size))
                if not data:
                    break
        side.done.set()
        if self.reason is None:
            tunnel.cancel()  # one side is done: so is the tunnel

    async def _close_on_end(self, tunnel: trio.CancelScope) -> None:
        await self._ending.wait()
        sides = (self._to_upstream, self._to_client)
        for side in sides:
            side.stop()
        with trio.move_on_after(CLOSE_GRACE_SECONDS):
            for side in sides:
                await side.done.wait()
        for side in sides:
            side.scope.cancel()  # a frame that did not end in time: no Close there
        with trio.move_on_after(CLOSE_GRACE_SECONDS):
            async with trio.open_nursery() as closing:
                closing.start_soon(self._send_close, self._to_upstream, self._to_client)
                closing.start_soon(self._send_close, self._to_client, self._to_upstream)
        tunnel.cancel()

    async def _send_close(self, side: _Direction, reading: _Direction) -> None:
        """Close to the side's sink (if no frame is half sent there), then
        a lingering close: no more writes, read and drop what the peer still
        sends (its own Close) until it closes, so that closing with unread
        bytes does not reset the connection before the peer read ours."""
        if not side.clean or self.reason is None:
            return
        sink = side.sink
        reason = self.reason
        with contextlib.suppress(*_GONE, OSError):
            await sink.send_all(close_frame(POLICY_VIOLATION, reason, masked=side.masked))
            if not isinstance(sink, RawSocketStream):
                return
            await sink.send_eof()
            await reading.done.wait()  # the pump reading this peer has let go
            dropped = 0
            while dropped < LINGER_BYTES:
                data = await sink.receive_some(PUMP_SIZE)
                if not data:
                    break
                dropped += len(data)


__all__ = ["CLOSE_GRACE_SECONDS", "Tunnel"]
