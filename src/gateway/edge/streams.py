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

The sockets the data plane opens (to upstreams, and to the control plane:
a Unix socket whose other end is ours too, so two descriptors) draw on the
process's descriptor budget (``gateway.descriptors``), set in ``budget``:
past the clients' share, opening one fails like EMFILE would, before the
reserve for admin and health checks is touched.
"""

from __future__ import annotations

import errno
import socket
from typing import ClassVar

import trio

from gateway.descriptors import DescriptorBudget

RECEIVE_SIZE = 65_536


class RawSocketStream(trio.abc.HalfCloseableStream):
    budget: ClassVar[DescriptorBudget | None] = None  # the process's, once serving

    def __init__(self, sock: socket.socket, *, budgeted: bool = True) -> None:
        """``budgeted=False``: the caller accounted for this descriptor."""
        sock.setblocking(False)
        self.socket = sock
        self._closed = False
        self._cost = 0
        self._budget = budget = RawSocketStream.budget if budgeted else None
        if budget is not None:
            cost = 2 if sock.family == socket.AF_UNIX else 1
            if not budget.take(cost):
                self._closed = True
                sock.close()
                raise OSError(errno.EMFILE, "the descriptor budget for connections is spent")
            self._cost = cost

    @classmethod
    def adopt(cls, stream: trio.SocketStream, *, budgeted: bool = True) -> RawSocketStream:
        """Take over the socket of ``stream`` (which must not be used after)."""
        trio_socket = stream.socket
        family, kind, proto = trio_socket.family, trio_socket.type, trio_socket.proto
        return cls(
            socket.socket(family, kind, proto, fileno=trio_socket.detach()), budgeted=budgeted
        )

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
            if self._budget is not None:
                self._budget.give(self._cost)
                self._budget = None

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()
