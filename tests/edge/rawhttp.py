"""Raw bytes over a real socket: for the shapes no well-behaved client sends."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

import httptools


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def connect(url: str, timeout: float = 10.0, source: str | None = None) -> socket.socket:
    sock = socket.create_connection(
        address(url), timeout=timeout, source_address=(source, 0) if source else None
    )
    return sock


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes (a timeout fails the test)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


class Responses:
    """Parse whole responses off a socket with httptools."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.done: list[tuple[int, dict[bytes, bytes], bytes]] = []
        self._headers: dict[bytes, bytes] = {}
        self._body = b""
        self._parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append((self._parser.get_status_code(), self._headers, self._body))
        self._headers, self._body = {}, b""

    def read(self, count: int = 1) -> list[tuple[int, dict[bytes, bytes], bytes]]:
        while len(self.done) < count:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed after {len(self.done)} of {count} responses"
            self._parser.feed_data(chunk)
        taken, self.done = self.done[:count], self.done[count:]
        return taken


def closed(sock: socket.socket) -> bool:
    """True when the server has closed (EOF or reset), reading what is left."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def trickle(url: str, head: bytes, pieces: Iterable[bytes]) -> tuple[int, bytes]:
    """Send ``head``, then each of ``pieces`` 50 ms apart, until the server
    cuts the connection; how many pieces went out, and what it answered."""
    with connect(url) as sock:
        sock.sendall(head)
        sent = 0
        try:
            for piece in pieces:
                sock.sendall(piece)
                sent += 1
                time.sleep(0.05)  # the slow sender under test
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        try:
            return sent, read_until_closed(sock)
        except TimeoutError:
            raise AssertionError("the slow sender kept its connection") from None
