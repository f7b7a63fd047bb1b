"""A bug inside the gateway (an exception no handler expected) is answered
in the SPEC's error form with status 500, logged once without the request's
secrets, and the listener goes on serving."""

import json
import logging

import trio

from gateway.edge.listener import ConnectionLimits, HttpConnection, Request
from gateway.edge.streams import RawSocketStream
from gateway.edge.watchdog import Watchdog
from gateway.http.common import create_app

SECRET = "hunter2secret"


async def test_the_control_plane_answers_a_bug_in_spec_form(caplog):
    app = create_app("test", 65_536)

    @app.post("/boom")
    async def boom() -> str:
        raise RuntimeError("a bug")

    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="gateway.http"):
        answer = await client.post(f"/boom?password={SECRET}", json={"password": SECRET})
    body = await answer.get_json()
    assert answer.status_code == 500
    assert body["error"] == "internal_error" and body["message"]
    records = [r for r in caplog.records if r.name == "gateway.http"]
    assert len(records) == 1
    assert SECRET not in caplog.text


async def test_the_data_plane_answers_a_bug_in_spec_form(caplog):
    calls = 0

    async def handler(request: Request, connection: HttpConnection) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("a bug")

    async with trio.open_nursery() as nursery:
        watchdog = Watchdog()
        nursery.start_soon(watchdog.run)
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]

        async def serve_one() -> None:
            stream = await listeners[0].accept()
            connection = HttpConnection(
                RawSocketStream.adopt(stream),
                ("127.0.0.1", 0),
                ConnectionLimits(),
                handler,
                watchdog,
                "http",
            )
            await connection.serve()

        nursery.start_soon(serve_one)
        client = await trio.open_tcp_stream("127.0.0.1", port)
        await client.send_all(
            b"POST /v1/login?password=" + SECRET.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 2\r\n\r\n{}"
        )
        answer = b""
        with caplog.at_level(logging.ERROR, logger="gateway.edge"), trio.fail_after(5):
            while chunk := await client.receive_some():
                answer += chunk
        nursery.cancel_scope.cancel()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert json.loads(body)["error"] == "internal_error"
    assert calls == 1
    records = [r for r in caplog.records if r.name == "gateway.edge"]
    assert len(records) == 1
    assert SECRET not in caplog.text
