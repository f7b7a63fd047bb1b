"""A WebSocket client on a plain socket (wsproto), for the proxy tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import wsproto
import wsproto.events

from tests.edge.rawhttp import address


class WebSocket:
    def __init__(self, url: str, path: str, headers: list[tuple[str, str]]) -> None:
        self.sock = socket.create_connection(address(url), timeout=10)
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.sock.sendall(
            self.ws.send(wsproto.events.Request(host="x", target=path, extra_headers=headers))
        )
        self.closed_with: tuple[int, str | None] | None = None  # the Close frame received
        self.events = self._events()
        event = next(self.events)
        if not isinstance(event, wsproto.events.AcceptConnection):
            raise ConnectionRefusedError(repr(event))

    def _events(self) -> Iterator[wsproto.events.Event]:
        while True:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            yield from self.ws.events()
            if not data:
                return

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(wsproto.events.TextMessage(data=text)))

    def receive(self) -> str | None:
        """The next text message; None once the gateway closed the socket
        (``closed_with`` then holds its Close frame's code and reason, if it
        sent one)."""
        for event in self.events:
            if isinstance(event, wsproto.events.TextMessage):
                return event.data
            if isinstance(event, wsproto.events.CloseConnection):
                self.closed_with = (event.code, event.reason)
                self.sock.sendall(self.ws.send(event.response()))
                return None
        return None

    def close(self) -> None:
        self.sock.close()
