"""Encoding and decoding of JSON bodies, and error answers, in one place.

Every error the edge sends is a ``GatewayError`` rendered by ``error_response``;
handlers never build an error body themselves.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from gateway.errors import BadRequest, GatewayError

T = TypeVar("T")

JSON = b"application/json"
_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

Headers = list[tuple[bytes, bytes]]


def encode(body: object) -> bytes:
    return _encoder.encode(body)


def decode(raw: bytes, into: type[T]) -> T:
    """Decode a request body, turning every kind of bad input into ``bad_request``
    with the field path msgspec reports."""
    decoder = _decoders.get(into)
    if decoder is None:
        decoder = _decoders[into] = msgspec.json.Decoder(into)
    try:
        return decoder.decode(raw)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid body: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a string.
        raise BadRequest("body is not valid JSON") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None


def error_response(error: GatewayError) -> tuple[int, Headers, bytes]:
    payload = encode(error.body())
    headers = _headers(payload)
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers().items()]
    return error.status, headers, payload


def json_response(body: object, status: int = 200) -> tuple[int, Headers, bytes]:
    payload = encode(body)
    return status, _headers(payload), payload


def _headers(payload: bytes) -> Headers:
    # With a length the server need not chunk the answer.
    return [
        (b"content-type", JSON),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
