"""The generator's HTTP client against a scripted server on loopback."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from bench.load.http import (
    ConnectionLost,
    HttpClient,
    HttpResponse,
    ProtocolError,
    RequestTimeout,
    encode_request,
    error_code,
    json_request,
)
from bench.load.target import Target, loopback_target

Answer = Callable[[bytes], bytes | None]  # request head -> raw response (None: no answer)


async def serve(answer: Answer, close_after: bool = False) -> tuple[asyncio.Server, Target]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                raw = answer(head)
                if raw is None:
                    await asyncio.sleep(3600)  # never answers; the test aborts it
                writer.write(raw)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, loopback_target(f"http://127.0.0.1:{port}")


def run(test: Callable[[], Awaitable[None]]) -> None:
    uvloop.run(asyncio.wait_for(test(), timeout=30))


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_keep_alive_reuses_one_connection() -> None:
    async def scenario() -> None:
        server, target = await serve(lambda head: ok(b"hello"))
        client = HttpClient(target)
        for _ in range(3):
            response = await client.send(encode_request(target, "GET", "/"))
            assert (response.status, response.body) == (200, b"hello")
        assert client.connects == 1
        client.close()
        server.close()

    run(scenario)


def test_chunked_bodies_are_joined() -> None:
    chunked = (
        b"HTTP/1.1 401 \r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"err\r\n9\r\nor": "x"}\r\n0\r\n\r\n'
    )

    async def scenario() -> None:
        server, target = await serve(lambda head: chunked)
        client = HttpClient(target)
        response = await client.send(encode_request(target, "GET", "/v1/session"))
        assert response.status == 401
        assert response.body == b'{"error": "x"}'
        assert error_code(response) == "x"
        client.close()
        server.close()

    run(scenario)


def test_a_closed_connection_is_replaced_on_the_next_request() -> None:
    async def scenario() -> None:
        server, target = await serve(
            lambda head: ok(b"bye", b"Connection: close\r\n"), close_after=True
        )
        client = HttpClient(target)
        for _ in range(2):
            assert (await client.send(encode_request(target, "GET", "/"))).body == b"bye"
        assert client.connects == 2
        client.close()
        server.close()

    run(scenario)


def test_connection_lost_without_answer_is_a_transport_error() -> None:
    async def scenario() -> None:
        server, target = await serve(lambda head: b"", close_after=True)
        client = HttpClient(target)
        with pytest.raises(ConnectionLost):
            await client.send(encode_request(target, "GET", "/"))
        server.close()

    run(scenario)


def test_watchdog_aborts_a_request_with_no_answer() -> None:
    async def scenario() -> None:
        server, target = await serve(lambda head: None)
        client = HttpClient(target)
        pending = asyncio.ensure_future(client.send(encode_request(target, "GET", "/")))
        while client.connection is None or not client.connection.busy:
            await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        assert not client.expire(older_than=loop.time() - 60)  # not old enough yet
        assert client.expire(older_than=loop.time() + 1)
        with pytest.raises(RequestTimeout):
            await pending
        server.close()

    run(scenario)


def test_garbage_is_a_protocol_error() -> None:
    async def scenario() -> None:
        server, target = await serve(lambda head: b"NOT HTTP AT ALL\r\n\r\n")
        client = HttpClient(target)
        with pytest.raises(ProtocolError):
            await client.send(encode_request(target, "GET", "/"))
        server.close()

    run(scenario)


def test_connect_failure_is_a_transport_error() -> None:
    async def scenario() -> None:
        server, target = await serve(lambda head: ok(b""))
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionLost):
            await HttpClient(target).send(encode_request(target, "GET", "/"))

    run(scenario)


def test_requests_are_encoded_once_exactly() -> None:
    target = loopback_target("http://127.0.0.1:8080/gw")
    assert encode_request(
        target, "GET", "/v1/session", headers=[("Authorization", "Bearer t")]
    ) == (b"GET /gw/v1/session HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer t\r\n\r\n")
    assert encode_request(target, "POST", "/v1/session/tickle").endswith(
        b"\r\nContent-Length: 0\r\n\r\n"
    )
    body = json_request(target, "POST", "/v1/login", {"username": "a"})
    assert b"Content-Type: application/json\r\n" in body
    assert body.endswith(b'Content-Length: 16\r\n\r\n{"username":"a"}')


def test_error_codes_come_from_error_bodies() -> None:
    assert error_code(HttpResponse(200, b'{"error": "x"}')) is None
    assert error_code(HttpResponse(423, b'{"error":"locked","message":"m"}')) == "locked"
    assert error_code(HttpResponse(502, b"<html>bad gateway</html>")) == "http_502"
    assert error_code(HttpResponse(500, b'{"message": "no code"}')) == "http_500"
