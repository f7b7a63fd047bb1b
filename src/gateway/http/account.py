"""Client API routes of a user's own account, from a session:

    POST /v1/devices/{id}/activate    {} -> the device's challenge; {response} -> active
    POST /v1/account/email            {new_email} -> a code to the old address
                                      {new_email, password} -> changed at once
    POST /v1/account/email/confirm    {code} -> changed

Handlers decode a Struct, call the core (``SupportDesk``, ``AccountDesk``),
encode a Struct, as in ``api.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Response, request
from quart_trio import QuartTrio

from gateway import schemas
from gateway.auth.factors.base import Challenge, Factor
from gateway.errors import NotFound
from gateway.http.common import body, full_session, json, path_param, request_session_token
from gateway.runtime import Runtime
from gateway.store.base import User

MAX_OPEN_PROOFS = 10_000


Prove = Callable[
    [str, str, Factor, str | None, Challenge | None],
    Awaitable[tuple[Challenge | None, int | None]],
]


class DeviceProofs:
    """A user proving possession of one of their devices from a session:
    ``{}`` asks the device's challenge, kept for that session and device;
    ``{"response"}`` answers it. Reactivation and the activation of a
    shipped card go the same way; only what the proof does differs."""

    def __init__(self, runtime: Runtime) -> None:
        self._core = runtime.core
        self._open: dict[tuple[str, str], Challenge] = {}

    async def answer(self, device_id: str, prove: Prove) -> Challenge | int:
        """The challenge to answer, or (once answered) the sessions ended."""
        core = self._core
        session = core.sessions.authenticate(request_session_token())
        form = await body(schemas.ReactivationProof)
        device_id = path_param(device_id)
        devices = await core.support.devices(session.username)
        device = next((d for d in devices if d.device_id == device_id), None)
        factor = core.factors.get(device.type) if device is not None else None
        if factor is None:
            raise NotFound("no such security device")
        key = (session.session_id, device_id)
        issued, ended = await prove(
            session.username, device_id, factor, form.response, self._open.pop(key, None)
        )
        if issued is None:
            return ended or 0
        if len(self._open) >= MAX_OPEN_PROOFS:
            self._open.pop(next(iter(self._open)))
        self._open[key] = issued
        return issued


def challenge_answer(device_id: str, issued: Challenge) -> Response:
    return json(
        schemas.ReactivationChallenge(
            device_id=device_id,
            challenge=issued.challenge,
            positions=list(issued.positions) if issued.positions else None,
            options=dict(issued.options) if issued.options is not None else None,
        )
    )


def add_account_routes(app: QuartTrio, runtime: Runtime, proofs: DeviceProofs) -> None:
    sessions, account = runtime.core.sessions, runtime.core.account

    @app.post("/v1/devices/<device_id>/activate")
    async def activate_device(device_id: str) -> Response:
        """The holder activates a shipped card by answering with it (from any
        session: a temporary passcode's too, which it then ends, as a
        reactivation does)."""
        proved = await proofs.answer(device_id, runtime.core.support.activate_by_proof)
        if isinstance(proved, Challenge):
            return challenge_answer(path_param(device_id), proved)
        return json(
            schemas.DeviceActivated(
                device_id=path_param(device_id), activated=True, sessions_ended=proved
            )
        )

    @app.post("/v1/account/email")
    async def change_email() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.EmailChangeRequest)
        result = await account.request_email_change(
            session.username, form.new_email, form.password, ip=request.remote_addr or "unknown"
        )
        if isinstance(result, User):
            return json(schemas.EmailChanged(email=result.email or "", changed=True))
        return json(schemas.EmailCodeSent(sent="email", expires_in=int(result)), status=202)

    @app.post("/v1/account/email/confirm")
    async def confirm_email() -> Response:
        session = full_session(sessions.authenticate(request_session_token()))
        form = await body(schemas.EmailChangeConfirmation)
        user = await account.confirm_email_change(
            session.username, form.code, ip=request.remote_addr or "unknown"
        )
        return json(schemas.EmailChanged(email=user.email or "", changed=True))
