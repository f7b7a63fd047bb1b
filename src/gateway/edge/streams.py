"""A TCP or Unix stream on a plain socket, driven by Trio's low-level I/O.

``trio.SocketStream`` tries every ``recv`` before it waits (on a proxy the
next request or the upstream's answer is almost never there yet, so that
is a wasted system call per wait), and wraps each call in a context
manager, a conflict detector and two checkpoints. Each data-plane
connection belongs to one task, so this stream does the least that is
correct: ``receive_some`` waits for readability and then reads once (the
wait is its checkpoint); ``send_all`` writes at once and waits only when
the kernel's buffer is full. Measured on the proxy path it removes about a
third of the CPU per request.

TLS connections keep ``trio.SSLStream`` over a ``trio.SocketStream``.
"""

from __future__ import annotations

import socket

import trio

RECEIVE_SIZE = 65_536


class RawSocketStream(trio.abc.HalfCloseableStream):
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.socket = sock
        self._closed = False

    @classmethod
    def adopt(cls, stream: trio.SocketStream) -> RawSocketStream:
        """Take over the socket of ``stream`` (which must not be used after)."""
        trio_socket = stream.socket
        family, kind, proto = trio_socket.family, trio_socket.type, trio_socket.proto
        return cls(socket.socket(family, kind, proto, fileno=trio_socket.detach()))

    def _broken(self, error: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
        if self._closed:
            return trio.ClosedResourceError("the stream was closed")
        return trio.BrokenResourceError(str(error))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        sock = self.socket
        while True:
            if self._closed:
                raise trio.ClosedResourceError("the stream was closed")
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                raise self._broken(error) from error
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            await trio.lowlevel.wait_writable(sock)

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self.socket)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        sock = self.socket
        while True:
            if self._closed:
                raise trio.ClosedResourceError("the stream was closed")
            await trio.lowlevel.wait_readable(sock)
            try:
                return sock.recv(max_bytes or RECEIVE_SIZE)
            except BlockingIOError:
                continue
            except OSError as error:
                raise self._broken(error) from error

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError as error:
            raise self._broken(error) from error

    def close_now(self) -> None:
        """Close at once; a task waiting on the socket gets
        ``ClosedResourceError``."""
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()
