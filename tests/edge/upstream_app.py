"""A small upstream service for the proxy and forward-auth tests: an ASGI app
on Hypercorn (asyncio), started as its own process on loopback.

- any path: JSON ``{method, path, query, headers, body_bytes, body_sha256}``
  (the body read as it streams in)
- ``/stream?chunks=N&size=S``: a chunked answer of N pieces
- ``/slow?seconds=S``: answers after S seconds
- ``/ws``: a WebSocket that echoes every message
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any
from urllib.parse import parse_qs

from bench.load.bare_app import lifespan


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await _echo_socket(receive, send)
        return
    query = parse_qs(scope["query_string"].decode("latin-1"))
    digest = hashlib.sha256()
    seen = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        seen += len(chunk)
        digest.update(chunk)
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.endswith("/stream"):
        chunks, size = int(query["chunks"][0]), int(query.get("size", ["10"])[0])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(chunks):
            piece = str(index % 10).encode() * size
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path.endswith("/slow"):
        await asyncio.sleep(float(query["seconds"][0]))
    answer = {
        "method": scope["method"],
        "path": path,
        "raw_path": scope.get("raw_path", b"").decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body_bytes": seen,
        "body_sha256": digest.hexdigest(),
        "client_port": scope["client"][1] if scope.get("client") else None,
    }
    payload = json.dumps(answer).encode()
    status = int(query["status"][0]) if "status" in query else 200
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-upstream", b"yes"),
                *((b"set-cookie", c.encode()) for c in query.get("set_cookie", [])),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _echo_socket(receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo:" + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


def main() -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [sys.argv[1]]
    config.accesslog = None
    config.keep_alive_timeout = 300
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
