"""Client API routes of a user's own account, from a session:

    POST /v1/devices/{id}/activate    {} -> the device's challenge; {response} -> active
    POST /v1/account/email            {new_email} -> a code to the old address
                                      {new_email, password} -> changed at once
    POST /v1/account/email/confirm    {code} -> changed

Handlers decode a Struct, call the core (``SupportDesk``, ``AccountDesk``),
encode a Struct, as in ``api.py``.
"""

from __future__ import annotations

from typing import cast

from quart import Response, request
from quart_trio import QuartTrio

from gateway import schemas
from gateway.auth.factors.base import Challenge
from gateway.auth.sessions import Session
from gateway.errors import Forbidden, NotFound, Unauthenticated
from gateway.http.common import body, json, path_param
from gateway.http.hotpath import Scope, request_token
from gateway.runtime import Runtime
from gateway.store.base import User

MAX_OPEN_PROOFS = 10_000


def add_account_routes(app: QuartTrio, runtime: Runtime) -> None:
    core = runtime.core
    sessions, support, account = core.sessions, core.support, core.account
    proofs: dict[tuple[str, str], Challenge] = {}

    @app.post("/v1/devices/<device_id>/activate")
    async def activate_device(device_id: str) -> Response:
        """The holder activates a shipped card by answering with it (from any
        session: a temporary passcode's too, which it then ends, as a
        reactivation does)."""
        session = sessions.authenticate(_token())
        form = await body(schemas.ReactivationProof)
        device_id = path_param(device_id)
        devices = await support.devices(session.username)
        device = next((d for d in devices if d.device_id == device_id), None)
        factor = core.factors.get(device.type) if device is not None else None
        if factor is None:
            raise NotFound("no such security device")
        key = (session.session_id, device_id)
        issued, ended = await support.activate_by_proof(
            session.username, device_id, factor, form.response, proofs.pop(key, None)
        )
        if issued is not None:
            if len(proofs) >= MAX_OPEN_PROOFS:
                proofs.pop(next(iter(proofs)))
            proofs[key] = issued
            return json(
                schemas.ReactivationChallenge(
                    device_id=device_id,
                    challenge=issued.challenge,
                    positions=list(issued.positions) if issued.positions else None,
                )
            )
        return json(
            schemas.DeviceActivated(device_id=device_id, activated=True, sessions_ended=ended or 0)
        )

    @app.post("/v1/account/email")
    async def change_email() -> Response:
        session = _full(sessions.authenticate(_token()))
        form = await body(schemas.EmailChangeRequest)
        result = await account.request_email_change(
            session.username, form.new_email, form.password, ip=request.remote_addr or "unknown"
        )
        if isinstance(result, User):
            return json(schemas.EmailChanged(email=result.email or "", changed=True))
        return json(schemas.EmailCodeSent(sent="email", expires_in=int(result)), status=202)

    @app.post("/v1/account/email/confirm")
    async def confirm_email() -> Response:
        session = _full(sessions.authenticate(_token()))
        form = await body(schemas.EmailChangeConfirmation)
        user = await account.confirm_email_change(
            session.username, form.code, ip=request.remote_addr or "unknown"
        )
        return json(schemas.EmailChanged(email=user.email or "", changed=True))


def _full(session: Session) -> Session:
    """A session that may do more than print the online security card."""
    if session.scope is not None:
        raise Forbidden("This session may only print the online security card")
    return session


def _token() -> str:
    token = request_token(cast(Scope, request.scope))
    if not token:
        raise Unauthenticated()
    return token
