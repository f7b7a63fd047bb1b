"""The proxy's WebSocket pieces without a server: the handshake checks,
frame boundaries, the Close frame, and the tunnel over in-memory streams
(where a frame in flight can be cut in two at will)."""

import random

import pytest
import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Message

from gateway.edge.tunnel import CLOSE_GRACE_SECONDS, Tunnel
from gateway.edge.websocket import (
    FrameCursor,
    accept_value,
    accepted,
    close_frame,
    handshake_key,
)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
HANDSHAKE = [
    (b"host", b"x"),
    (b"connection", b"keep-alive, Upgrade"),
    (b"upgrade", b"WebSocket"),
    (b"sec-websocket-version", b"13"),
    (b"sec-websocket-key", KEY),
]


def test_the_accept_value_is_rfc_6455s():
    assert accept_value(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_valid_handshake_gives_its_key():
    assert handshake_key("GET", "1.1", False, HANDSHAKE) == KEY


def replaced(name: bytes, value: bytes | None) -> list[tuple[bytes, bytes]]:
    headers = [(n, v) for n, v in HANDSHAKE if n != name]
    return headers if value is None else [*headers, (name, value)]


@pytest.mark.parametrize(
    "headers",
    [
        replaced(b"upgrade", b"h2c"),
        replaced(b"upgrade", b"websocket, h2c"),
        replaced(b"upgrade", None),
        [*HANDSHAKE, (b"upgrade", b"websocket")],
        replaced(b"connection", b"keep-alive"),
        replaced(b"sec-websocket-version", b"8"),
        replaced(b"sec-websocket-version", None),
        replaced(b"sec-websocket-key", b"c2hvcnQ="),  # 5 bytes
        replaced(b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ"),  # unpadded
        replaced(b"sec-websocket-key", b"not base64 at all!!!!!!="),
        replaced(b"sec-websocket-key", None),
        [*HANDSHAKE, (b"sec-websocket-key", KEY)],
    ],
)
def test_anything_else_is_no_handshake(headers):
    assert handshake_key("GET", "1.1", False, headers) is None


def test_only_a_bodiless_get_over_http_1_1_is_a_handshake():
    assert handshake_key("POST", "1.1", False, HANDSHAKE) is None
    assert handshake_key("GET", "1.0", False, HANDSHAKE) is None
    assert handshake_key("GET", "1.1", True, HANDSHAKE) is None


def test_the_upstreams_101_must_complete_the_handshake():
    good = [(b"upgrade", b"websocket"), (b"sec-websocket-accept", accept_value(KEY))]
    assert accepted(good, KEY)
    assert not accepted([(b"upgrade", b"h2c"), good[1]], KEY)
    assert not accepted([good[0], (b"sec-websocket-accept", accept_value(b"other"))], KEY)
    assert not accepted([good[0]], KEY)
    assert not accepted([*good, good[1]], KEY)


def frame(payload: bytes, *, masked: bool, opcode: int = 0x2) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size | (0x80 if masked else 0)))
    elif size < 65536:
        head = bytes((0x80 | opcode, 126 | (0x80 if masked else 0))) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127 | (0x80 if masked else 0))) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = b"\x01\x02\x03\x04"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_the_cursor_finds_every_boundary_however_the_bytes_are_cut():
    rng = random.Random(7)
    frames = [
        frame(rng.randbytes(size), masked=rng.random() < 0.5)
        for size in (0, 1, 125, 126, 127, 65535, 65536, 70000, 3, 0)
    ]
    stream = b"".join(frames)
    boundaries = {0}
    for item in frames:
        boundaries.add(max(boundaries) + len(item))
    for _ in range(50):
        cursor, offset = FrameCursor(), 0
        while offset < len(stream):
            step = rng.choice((1, 2, 3, 7, 100, 5000, 70000))
            cursor.feed(stream[offset : offset + step])
            offset = min(offset + step, len(stream))
            assert cursor.at_boundary == (offset in boundaries), offset


def test_reading_up_to_the_boundary_never_passes_it():
    stream = frame(b"x" * 300, masked=True) + frame(b"", masked=False)
    cursor = FrameCursor()
    cursor.feed(stream[:1])  # half a header
    offset = 1
    while not cursor.at_boundary:
        step = cursor.until_boundary()
        assert step > 0
        cursor.feed(stream[offset : offset + step])
        offset += step
    assert offset == len(stream) - 2  # the first frame's end, not the second's


def parsed(data: bytes, side: ConnectionType) -> list:
    connection = Connection(side)
    connection.receive_data(data)
    return list(connection.events())


def test_close_frames_are_a_servers_and_a_clients():
    (to_client,) = parsed(
        close_frame(1008, "session_replaced", masked=False), ConnectionType.CLIENT
    )
    (to_upstream,) = parsed(
        close_frame(1008, "api_key_revoked", masked=True), ConnectionType.SERVER
    )
    assert (to_client.code, to_client.reason) == (1008, "session_replaced")
    assert (to_upstream.code, to_upstream.reason) == (1008, "api_key_revoked")


def messages(events: list) -> list:
    return [
        (type(e).__name__, e.data) if isinstance(e, Message) else (e.code, e.reason)
        for e in events
        if isinstance(e, (Message, CloseConnection))
    ]


async def received_all(stream: trio.abc.ReceiveStream) -> bytes:
    """What the tunnel sent before it let go (memory streams do not close)."""
    data = b""
    while True:
        with trio.move_on_after(0.5) as scope:
            chunk = await stream.receive_some(65536)
        if scope.cancelled_caught or not chunk:
            return data
        data += chunk


def test_the_close_waits_for_the_frames_in_flight():
    to_client = frame(b"a" * 1000, masked=False)
    to_upstream = frame(b"b" * 1000, masked=True)

    async def main() -> tuple[bytes, bytes]:
        client, gateway_client = trio.testing.memory_stream_pair()
        gateway_upstream, upstream = trio.testing.memory_stream_pair()
        tunnel = Tunnel(gateway_client, gateway_upstream)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tunnel.run, b"", b"")
            await upstream.send_all(to_client[:400])
            await client.send_all(to_upstream[:400])
            await trio.testing.wait_all_tasks_blocked()
            tunnel.end("session_replaced")  # both halves are through: mid-frame both ways
            await trio.testing.wait_all_tasks_blocked()
            await upstream.send_all(to_client[400:] + frame(b"late", masked=False))
            await client.send_all(to_upstream[400:] + frame(b"late", masked=True))
        return await received_all(client), await received_all(upstream)

    at_client, at_upstream = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0.1))
    assert messages(parsed(at_client, ConnectionType.CLIENT)) == [
        ("BytesMessage", b"a" * 1000),
        (1008, "session_replaced"),
    ]
    assert messages(parsed(at_upstream, ConnectionType.SERVER)) == [
        ("BytesMessage", b"b" * 1000),
        (1008, "session_replaced"),
    ]


def test_a_frame_that_does_not_end_in_time_gets_no_close():
    to_client = frame(b"a" * 1000, masked=False)

    async def main() -> tuple[bytes, bytes, float]:
        client, gateway_client = trio.testing.memory_stream_pair()
        gateway_upstream, upstream = trio.testing.memory_stream_pair()
        tunnel = Tunnel(gateway_client, gateway_upstream)
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tunnel.run, b"", b"")
            await upstream.send_all(to_client[:400])
            await trio.testing.wait_all_tasks_blocked()
            tunnel.end("api_key_revoked")  # the rest of the frame never comes
        took = trio.current_time() - started
        return await received_all(client), await received_all(upstream), took

    at_client, at_upstream, took = trio.run(
        main, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    assert at_client == to_client[:400]  # a Close in mid-frame would be garbage
    assert messages(parsed(at_upstream, ConnectionType.SERVER)) == [(1008, "api_key_revoked")]
    assert took >= CLOSE_GRACE_SECONDS


def test_a_tunnel_ends_when_a_side_closes():
    async def main() -> bytes:
        client, gateway_client = trio.testing.memory_stream_pair()
        gateway_upstream, upstream = trio.testing.memory_stream_pair()
        tunnel = Tunnel(gateway_client, gateway_upstream)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tunnel.run, b"hello", b"")
            await client.aclose()
        return await received_all(upstream)

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == b"hello"
