"""Sending and receiving on the data plane's streams, with less per call.

``trio.SocketStream.send_all``/``receive_some`` guard against two tasks
using one stream at once and slice through memoryviews; each data-plane
stream belongs to one task, and most answers fit in one ``send``, so these
go to the Trio socket directly and fall back to the stream for the rest
(TLS streams always use the stream).
"""

from __future__ import annotations

import trio

RECEIVE_SIZE = 65_536


class FastStream:
    __slots__ = ("_socket", "stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._socket = stream.socket if isinstance(stream, trio.SocketStream) else None

    async def send_all(self, data: bytes) -> None:
        sock = self._socket
        if sock is None:
            await self.stream.send_all(data)
            return
        try:
            sent = await sock.send(data)
        except OSError as error:
            if sock.fileno() == -1:
                raise trio.ClosedResourceError("the connection was closed") from None
            raise trio.BrokenResourceError(str(error)) from error
        if sent < len(data):
            await self.stream.send_all(memoryview(data)[sent:])

    async def receive_some(self) -> bytes:
        sock = self._socket
        if sock is None:
            return bytes(await self.stream.receive_some(RECEIVE_SIZE))
        try:
            return await sock.recv(RECEIVE_SIZE)
        except OSError as error:
            if sock.fileno() == -1:
                raise trio.ClosedResourceError("the connection was closed") from None
            raise trio.BrokenResourceError(str(error)) from error
