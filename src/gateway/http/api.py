"""The client API on the public listener (DESIGN.md, "HTTP contract").

Handlers are a few lines each: decode a Struct, call the core, encode a
Struct. The hot endpoints (``GET /v1/session``, ``POST /v1/session/tickle``)
are answered by ``hotpath.HotPaths`` before Quart sees them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import cast

import msgspec
import trio
from quart import Response, request

from gateway import __version__, schemas
from gateway.auth.factors.base import Challenge
from gateway.auth.factors.grid import card_html, card_png
from gateway.auth.factors.ibkey import SUITE
from gateway.auth.factors.passkey import PasskeySecret
from gateway.auth.flow import LoggedIn
from gateway.auth.ibkey import ACTIVATION_SECONDS
from gateway.auth.sessions import Platform, Session, SessionEvent, SessionRegistry
from gateway.auth.trust import device_cookie
from gateway.auth.withdrawals import Standing, format_cents, parse_amount
from gateway.credentials import SESSION_COOKIE
from gateway.encoding import b64u
from gateway.errors import BadRequest, Forbidden, Unauthenticated
from gateway.http.account import DeviceProofs, add_account_routes, challenge_answer
from gateway.http.common import (
    body,
    create_app,
    full_session,
    json,
    path_param,
    request_session_token,
)
from gateway.http.hotpath import HotPaths, Scope, request_token
from gateway.http.openapi import openapi_document
from gateway.http.wire import Headers, json_response
from gateway.runtime import Runtime
from gateway.schemas import session_info
from gateway.store.base import Device

EVENT_KEEPALIVE_SECONDS = 15.0


def session_cookie(token: str, max_age: float) -> str:
    return (
        f"{SESSION_COOKIE}={token}; Path=/; Max-Age={int(max_age)}; "
        "Secure; HttpOnly; SameSite=Strict"
    )


def expired_cookie() -> str:
    return f"{SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"


def logged_in(runtime: Runtime, result: LoggedIn) -> Response:
    sessions = runtime.core.sessions
    # A browser (portal) keeps its token only in the HttpOnly cookie.
    token = None if result.session.platform is Platform.PORTAL else result.token
    answer = schemas.LoginOk(session=session_info(sessions, result.session), token=token)
    cookie = session_cookie(result.token, sessions.absolute_lifetime)
    response = json(answer, headers={"Set-Cookie": cookie})
    if result.device_cookie is not None:
        # This client is now a trusted device of the user (SPEC 3).
        response.headers.add("Set-Cookie", runtime.core.devices.set_cookie(result.device_cookie))
    return response


def create_public_app(runtime: Runtime) -> HotPaths:
    app = create_app("gateway.public", runtime.config.http.max_body_bytes)
    flow, sessions, ibkey = runtime.core.flow, runtime.core.sessions, runtime.core.ibkey
    ledger = runtime.core.withdrawals
    openapi = openapi_document()

    @app.post("/v1/login")
    async def login() -> Response:
        form = await body(schemas.LoginRequest)
        result = await flow.login(
            form.username,
            form.password,
            form.platform,
            ip=request.remote_addr or "unknown",
            trading=form.trading,
            device=device_cookie(cast(Scope, request.scope)["headers"]),
        )
        if isinstance(result, LoggedIn):
            return logged_in(runtime, result)
        return json(
            schemas.SecondFactorRequired(
                login_id=result.login_id, methods=list(result.methods), expires_in=result.expires_in
            )
        )

    @app.post("/v1/login/<login_id>/challenge")
    async def challenge(login_id: str) -> Response:
        form = await body(schemas.ChallengeRequest)
        issued = await flow.challenge(
            path_param(login_id), form.method, form.channel, ip=request.remote_addr or "unknown"
        )
        return json(schemas.ChallengeResponse(method=form.method, **issued.public()))  # type: ignore[arg-type]

    @app.post("/v1/login/<login_id>/verify")
    async def verify(login_id: str) -> Response:
        form = await body(schemas.VerifyRequest)
        result = await flow.verify(
            path_param(login_id), form.method, form.response, ip=request.remote_addr or "unknown"
        )
        return logged_in(runtime, result)

    @app.post("/v1/login/<login_id>/confirm")
    async def confirm(login_id: str) -> Response:
        form = await body(schemas.ConfirmRequest)
        result = await flow.confirm(path_param(login_id), form.takeover)
        if result is None:
            return json(schemas.LoginAbandoned(login_id=login_id))
        return logged_in(runtime, result)

    @app.get("/v1/login/<login_id>")
    async def login_status(login_id: str) -> Response:
        state = flow.state(path_param(login_id))
        push = flow.push_status(login_id)
        return json(schemas.LoginStatus(login_id=login_id, state=state.value, push=push))  # type: ignore[arg-type]

    proofs = DeviceProofs(runtime)

    @app.post("/v1/devices/<device_id>/reactivate")
    async def reactivate(device_id: str) -> Response:
        """The user reactivates a security device by answering with it (a
        temporary-passcode session may, too)."""
        proved = await proofs.answer(device_id, runtime.core.support.reactivate_by_proof)
        if isinstance(proved, Challenge):
            return challenge_answer(path_param(device_id), proved)
        return json(
            schemas.Reactivated(
                device_id=path_param(device_id), reactivated=True, sessions_ended=proved
            )
        )

    @app.post("/v1/passkeys")
    async def register_passkey() -> Response:
        """``{}``: the creation options; ``{credential}``: the new passkey."""
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.PasskeyRegistration)
        desk = runtime.core.passkeys
        if form.credential is None:
            options = await desk.options(session)
            timeout = int(runtime.config.passkeys.timeout_seconds)
            return json(schemas.PasskeyOptions(options=options, expires_in=timeout))
        device, secret = await desk.register(session, form.credential, form.label)
        return json(_passkey_info(device, secret), status=201)

    @app.get("/v1/passkeys")
    async def list_passkeys() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        found = await runtime.core.passkeys.passkeys(session.username)
        return json(schemas.PasskeyList(passkeys=[_passkey_info(d, s) for d, s in found]))

    @app.delete("/v1/passkeys/<device_id>")
    async def remove_passkey(device_id: str) -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        ended = await runtime.core.passkeys.remove(session, path_param(device_id))
        return json(schemas.DeviceRemoved(device_id=device_id, removed=True, sessions_ended=ended))

    @app.post("/v1/recovery/password")
    async def recover_password() -> Response:
        form = await body(schemas.PasswordRecovery)
        recovery_id = await runtime.core.recovery.start_password_reset(
            form.username, ip=request.remote_addr or "unknown"
        )
        return json(schemas.RecoveryStarted(recovery_id=recovery_id), status=202)

    @app.post("/v1/recovery/password/<recovery_id>")
    async def reset_password(recovery_id: str) -> Response:
        form = await body(schemas.PasswordReset)
        revoked = await runtime.core.recovery.finish_password_reset(
            path_param(recovery_id), form.code, form.new_password, ip=request.remote_addr or ""
        )
        return json(schemas.PasswordResetDone(reset=True, api_keys_revoked=revoked))

    @app.post("/v1/recovery/username")
    async def recover_username() -> Response:
        form = await body(schemas.UsernameRecovery)
        await runtime.core.recovery.send_username(form.email, ip=request.remote_addr or "unknown")
        return json(schemas.Accepted(accepted=True), status=202)

    @app.post("/v1/online-card")
    async def online_card() -> Response:
        """Print the online security card from a portal session (a limited
        temporary-passcode session included); ``?format=html`` or ``png``
        for a page or an image. A new print replaces the old card."""
        session = sessions.authenticate(request_session_token())
        if session.platform is not Platform.PORTAL:
            raise Forbidden("The online security card is printed from the portal")
        fmt = request.args.get("format", "json")
        if fmt not in ("json", "html", "png"):
            raise BadRequest("format is json, html or png")
        printed = await runtime.core.support.print_online_card(session.username)
        grid = printed.grid
        if fmt == "html":
            page = card_html(grid, f"Online security card of {session.username}")
            response = Response(page, status=201, content_type="text/html; charset=utf-8")
        elif fmt == "png":
            response = Response(card_png(grid), status=201, content_type="image/png")
        else:
            card = schemas.CodeGrid(columns=grid.columns, rows=grid.rows, codes=grid.codes)
            return json(
                schemas.OnlineCardPrinted(card=card, valid_until=printed.valid_until), status=201
            )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/v1/withdrawals/check")
    async def check_withdrawal() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.WithdrawalRequest)
        standing = ledger.standing(session.username, session.method, parse_amount(form.amount))
        return json(_standing(standing))

    @app.post("/v1/withdrawals")
    async def withdraw() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.WithdrawalRequest)
        cents = parse_amount(form.amount)
        standing, at = ledger.withdraw(session.username, session.method, cents)
        if at is None:
            fields = msgspec.structs.asdict(_standing(standing))
            refused = schemas.WithdrawalRefused(
                error="forbidden",
                message="The withdrawal does not fit the session's limits",
                **fields,
            )
            return json(refused, status=403)
        await runtime.store.record_withdrawal(session.username, at, cents)
        after = ledger.standing(session.username, session.method, 0)
        return json(_standing(after), status=201)

    @app.post("/v1/ibkey/activations")
    async def start_activation() -> Response:
        form = await body(schemas.ActivationRequest)
        activation_id, challenge = await ibkey.start_activation(
            form.username,
            form.password,
            ip=request.remote_addr or "unknown",
            with_card=form.use == "card",
        )
        answer = schemas.ActivationStarted(
            activation_id=activation_id,
            sent=None if challenge else "sms",
            challenge=challenge,
            expires_in=int(ACTIVATION_SECONDS),
        )
        return json(answer, status=202)

    @app.post("/v1/ibkey/activations/<activation_id>")
    async def complete_activation(activation_id: str) -> Response:
        form = await body(schemas.ActivationCompletion)
        done = await ibkey.complete_activation(
            path_param(activation_id), form.token, form.public_key, form.pin
        )
        answer = schemas.IbKeyActivated(
            device_id=done.device.device_id, ocra_suite=SUITE, ocra_key=b64u(done.ocra_key)
        )
        return json(answer, status=201)

    @app.get("/v1/ibkey/<device_id>/approvals")
    async def list_approvals(device_id: str) -> Response:
        tickets = await ibkey.approvals(
            path_param(device_id),
            request.headers.get("X-IBKey-Time", ""),
            request.headers.get("X-IBKey-Signature", ""),
        )
        approvals = [
            schemas.Approval(
                approval_id=t.approval_id,
                nonce=t.nonce,
                username=t.username,
                platform=t.platform,
                ip=t.ip,
                created_at=t.created_at,
                kind="temporary_passcode" if t.sealed is not None else "approval",
                sealed=b64u(t.sealed) if t.sealed is not None else None,
            )
            for t in tickets
        ]
        return json(schemas.ApprovalList(approvals=approvals))

    @app.post("/v1/ibkey/<device_id>/approvals/<approval_id>")
    async def answer_approval(device_id: str, approval_id: str) -> Response:
        form = await body(schemas.ApprovalAnswer)
        await ibkey.answer(
            path_param(device_id), path_param(approval_id), form.decision, form.signature
        )
        return json(schemas.ApprovalAnswered(approval_id=approval_id, decision=form.decision))

    @app.post("/v1/logout")
    async def logout() -> Response:
        sessions.logout(request_session_token())
        return json(schemas.LoggedOut(), headers={"Set-Cookie": expired_cookie()})

    @app.get("/v1/session/events")
    async def events() -> Response:
        session = sessions.authenticate(request_session_token())
        stream = _event_stream(sessions, session)
        response = Response(stream, content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        response.timeout = None
        return response

    @app.post("/v1/api-keys")
    async def create_api_key() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.CreateApiKeyRequest)
        new = await runtime.core.support.create_api_key(
            session.username,
            form.name,
            schemas.api_key_scopes(form),
            by="user",
            rate=form.rate,
            burst=form.burst,
            session=session,
        )
        return json(schemas.api_key_info(new.record, new.token), status=201)

    @app.get("/v1/api-keys")
    async def list_api_keys() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        keys = runtime.core.api_keys.of_user(session.username)
        return json(schemas.ApiKeyList(keys=[schemas.api_key_info(k) for k in keys]))

    @app.delete("/v1/api-keys/<key_id>")
    async def revoke_api_key(key_id: str) -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        await runtime.core.support.revoke_api_key(
            path_param(key_id), username=session.username, by="user"
        )
        return json(schemas.ApiKeyRevoked(key_id=key_id, revoked=True))

    @app.post("/v1/devices/<device_id>/pin")
    async def change_pin(device_id: str) -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.PinChange)
        await runtime.core.support.change_pin(
            session.username, path_param(device_id), form.new_pin, old_pin=form.old_pin
        )
        return json(schemas.PinChanged(device_id=device_id, changed=True))

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return json(openapi)

    @app.get("/healthz")
    async def health() -> Response:
        return json(schemas.Health(implementation=_fastcore_implementation(), version=__version__))

    @app.get("/readyz")
    async def ready() -> Response:
        return json(schemas.Health(implementation=_fastcore_implementation(), version=__version__))

    def check_session(scope: Scope) -> tuple[int, Headers, bytes]:
        session = sessions.authenticate(_scope_token(scope))
        return json_response(schemas.SessionStatus(session=session_info(sessions, session)))

    def tickle(scope: Scope) -> tuple[int, Headers, bytes]:
        session = sessions.tickle(_scope_token(scope))
        return json_response(schemas.SessionStatus(session=session_info(sessions, session)))

    add_account_routes(app, runtime, proofs)
    hot = {("GET", "/v1/session"): check_session, ("POST", "/v1/session/tickle"): tickle}
    return HotPaths(hot, app, runtime.config.http.max_body_bytes)


def _passkey_info(device: Device, secret: PasskeySecret) -> schemas.PasskeyInfo:
    return schemas.PasskeyInfo(
        device_id=device.device_id,
        credential_id=b64u(secret.credential_id),
        label=device.label,
        created_at=device.created_at,
        aaguid=secret.aaguid,
        backed_up=secret.backed_up,
        transports=list(secret.transports),
    )


def _standing(standing: Standing) -> schemas.WithdrawalStanding:
    return schemas.WithdrawalStanding(
        fits=standing.fits,
        method=standing.method,
        daily_limit=format_cents(standing.limits.day),
        five_day_limit=format_cents(standing.limits.five_days),
        remaining_day=format_cents(standing.remaining_day),
        remaining_five_days=format_cents(standing.remaining_five_days),
    )


def _scope_token(scope: Scope) -> str:
    token = request_token(scope)
    if not token:
        raise Unauthenticated()
    return token


async def _event_stream(sessions: SessionRegistry, session: Session) -> AsyncIterator[bytes]:
    """Server-sent events of one session: ``replaced``, ``expired`` or
    ``ended``, after which the stream closes. A comment line every few
    seconds keeps proxies from closing an idle stream."""
    send, receive = trio.open_memory_channel[SessionEvent](1)

    def listener(event: SessionEvent) -> None:
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            send.send_nowait(event)

    unsubscribe = sessions.subscribe(session.session_id, listener)
    try:
        yield b": connected\n\n"
        while True:
            with trio.move_on_after(EVENT_KEEPALIVE_SECONDS):
                event = await receive.receive()
                payload = json_response({"event": event.kind.value, "at": event.at})[2]
                yield b"event: " + event.kind.value.encode() + b"\ndata: " + payload + b"\n\n"
                return
            yield b": keepalive\n\n"
    finally:
        unsubscribe()
        send.close()


def _fastcore_implementation() -> str:
    import _fastcore

    return _fastcore.IMPLEMENTATION
