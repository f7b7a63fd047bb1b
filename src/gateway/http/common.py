"""What the Quart apps of both listeners share: body decoding, JSON answers
and the mapping of every failure to a SPEC error body."""

from __future__ import annotations

import logging
from typing import Any, TypeVar, cast

from quart import Quart, Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from gateway import schemas
from gateway.auth.sessions import Session
from gateway.auth.support import SupportDesk
from gateway.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    InternalError,
    NotFound,
    Unauthenticated,
)
from gateway.http.hotpath import Scope, request_token
from gateway.http.wire import decode, encode, error_response

log = logging.getLogger("gateway.http")
T = TypeVar("T")


class MethodNotAllowed(BadRequest):
    status = 405
    default_message = "Method not allowed"


class BodyTooLarge(BadRequest):
    status = 413
    default_message = "Request body too large"


def json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(encode(body), status=status, content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def body(into: type[T]) -> T:
    """The request body decoded into ``into``; anything else is ``bad_request``."""
    raw = await request.get_data(cache=True, as_text=False)
    if isinstance(raw, str):  # not with as_text=False; keeps the types honest
        raw = raw.encode()
    content_type = request.mimetype
    if content_type and content_type != "application/json":
        raise BadRequest("bodies are application/json")
    return decode(raw, into)


def render(error: GatewayError) -> Response:
    status, headers, payload = error_response(error)
    response = Response(payload, status=status)
    for name, value in headers:
        if name != b"content-length":  # Quart sets its own
            response.headers[name.decode()] = value.decode()
    return response


def create_app(name: str, max_body_bytes: int) -> QuartTrio:
    app = QuartTrio(name)
    app.config.update(
        MAX_CONTENT_LENGTH=max_body_bytes,
        RESPONSE_TIMEOUT=None,  # event streams stay open as long as the session
        BODY_TIMEOUT=30,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    install_error_handlers(app)

    @app.before_request
    async def read_whole_body() -> None:
        # Every request's body is read before the answer, even where the
        # handler needs none: answering with a body left unread can stall the
        # next request on the same keep-alive connection.
        await request.get_data(cache=True, as_text=False)

    return app


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(GatewayError)
    async def gateway_error(error: GatewayError) -> Response:
        return render(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        code = error.code or 400
        if code == 404:
            return render(NotFound())
        if code == 405:
            response = render(MethodNotAllowed())
            allowed = sorted(getattr(error, "valid_methods", None) or [])
            if "GET" in allowed and "HEAD" not in allowed:
                allowed.append("HEAD")  # Quart answers HEAD wherever GET is routed
            response.headers["Allow"] = ", ".join(allowed)
            return response
        if code == 413:
            # The rest of the body is never read: the connection cannot be
            # reused, so say so rather than leave the client waiting on it.
            response = render(BodyTooLarge())
            response.headers["Connection"] = "close"
            return response
        return render(BadRequest(error.description or "Bad request"))

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        # The path only: a query string or a body may hold a secret.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(InternalError())


async def new_api_key(support: SupportDesk, username: str, *, by: str) -> Response:
    """``POST .../api-keys`` for ``username``: the new key, shown once."""
    form = await body(schemas.CreateApiKeyRequest)
    new = await support.create_api_key(
        username,
        form.name,
        schemas.api_key_scopes(form),
        by=by,
        rate=form.rate,
        burst=form.burst,
    )
    return json(schemas.api_key_info(new.record, new.token), status=201)


def path_param(value: Any, limit: int = 128) -> str:
    text = str(value)
    if not text or len(text) > limit:
        raise NotFound()
    return text


def request_session_token() -> str:
    """The session token of the request being served, or ``Unauthenticated``."""
    token = request_token(cast(Scope, request.scope))
    if not token:
        raise Unauthenticated()
    return token


def full_session(session: Session) -> Session:
    """A session that may do more than print the online security card."""
    if session.scope is not None:
        raise Forbidden("This session may only print the online security card")
    return session
