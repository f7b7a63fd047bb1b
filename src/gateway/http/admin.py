"""The support (admin) API, on its own listener, behind a bearer token."""

from __future__ import annotations

import msgspec
from quart import Response, request

from _fastcore import ct_equal
from gateway import schemas
from gateway.auth.factors.cards import CARD_TYPES, PIN_NOTE
from gateway.auth.factors.grid import card_html, card_png
from gateway.auth.factors.interim import DAY, FULL_DAYS, PORTAL_DAYS
from gateway.auth.shipments import SHIPPABLE
from gateway.encoding import b64u
from gateway.errors import BadRequest, Forbidden, NotFound, Unauthenticated
from gateway.http.common import body, create_app, json, new_api_key, path_param
from gateway.http.hotpath import ASGIApp
from gateway.http.openapi import ADMIN, openapi_document
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.runtime import Runtime
from gateway.schemas import session_info


async def user_info(runtime: Runtime, username: str) -> schemas.UserInfo:
    support = runtime.core.support
    user = await support.user(username)  # NotFound for an unknown user
    devices = await support.devices(username)
    pending = await support.pending_devices(username)
    lock = await support.lock_status(username)
    return schemas.UserInfo(
        username=user.username,
        account=user.account_id,
        email=user.email,
        phone=user.phone,
        devices=[f"{d.type}:{d.device_id}" for d in devices],
        pending_devices=[f"{d.type}:{d.device_id}" for d in devices if d.device_id in pending],
        locked=lock.locked,
        failures=lock.failures,
        retry_after=lock.retry_after,
    )


def create_admin_app(runtime: Runtime) -> ASGIApp:
    app = create_app("gateway.admin", runtime.config.http.max_body_bytes)
    support, sessions = runtime.core.support, runtime.core.sessions
    expected = runtime.admin_token
    openapi = openapi_document(ADMIN, title="login-gateway admin")

    @app.before_request
    async def authorize() -> None:
        if request.path == "/metrics":
            return  # scraped without the support token (the admin listener is private)
        given = request.headers.get("Authorization")
        if given is None:
            raise Unauthenticated("The admin API needs Authorization: Bearer <admin token>")
        scheme, _, token = given.partition(" ")
        # RFC 9110 11.1: the scheme is case-insensitive.
        if scheme.lower() != "bearer" or not ct_equal(token.strip(), expected):
            raise Forbidden("Wrong admin token")

    @app.post("/admin/v1/users")
    async def create_user() -> Response:
        form = await body(schemas.CreateUserRequest)
        await support.create_user(
            form.username,
            form.password,
            account_id=form.account,
            email=form.email,
            phone=form.phone,
        )
        return json(await user_info(runtime, form.username), status=201)

    @app.get("/admin/v1/users/<username>")
    async def show_user(username: str) -> Response:
        return json(await user_info(runtime, path_param(username)))

    @app.patch("/admin/v1/users/<username>")
    async def change_contacts(username: str) -> Response:
        """Where messages go: the old address is told of the change."""
        form = await body(schemas.UpdateContactsRequest)
        await runtime.core.account.change_contacts(
            path_param(username), email=form.email, phone=form.phone
        )
        return json(await user_info(runtime, username))

    @app.post("/admin/v1/users/<username>/devices")
    async def enrol_device(username: str) -> Response:
        form = await body(schemas.EnrolDeviceRequest)
        deliver_at = _delivery(form, runtime.clock.now())
        if form.type == "totp":
            enrolment = await support.enrol_totp(path_param(username), form.label)
            return json(
                schemas.TotpEnrolled(
                    device_id=enrolment.device.device_id,
                    type="totp",
                    secret=enrolment.secret_base32,
                    otpauth_uri=enrolment.otpauth_uri,
                ),
                status=201,
            )
        if form.type == "scc":
            device, grid = await support.enrol_code_card(
                path_param(username), form.label, deliver_at
            )
            shipment = await support.shipment(device)
            return json(
                schemas.CodeCardEnrolled(
                    device_id=device.device_id,
                    type="scc",
                    card=schemas.CodeGrid(columns=grid.columns, rows=grid.rows, codes=grid.codes),
                    deliver_at=shipment.deliver_at if shipment else None,
                    activates_at=shipment.activates_at if shipment else None,
                ),
                status=201,
            )
        if form.type == "sms":
            device = await support.enrol_sms(path_param(username), form.phone)
            return json(
                schemas.SmsEnrolled(
                    device_id=device.device_id, type="sms", phone=device.secret.decode()
                ),
                status=201,
            )
        card = await support.enrol_card(
            path_param(username),
            form.type,
            pin=form.pin,
            secret=form.secret,
            label=form.label,
            deliver_at=deliver_at,
        )
        shipment = await support.shipment(card.device)
        checked = CARD_TYPES[form.type].pin_in_suite
        return json(
            schemas.CardEnrolled(
                device_id=card.device.device_id,
                type=form.type,
                secret=b64u(card.card.key),
                ocra_suite=card.card.suite,
                serial=card.card.serial,
                pin=card.pin_shown,
                pin_checked=checked,
                pin_note=PIN_NOTE[checked],
                deliver_at=shipment.deliver_at if shipment else None,
                activates_at=shipment.activates_at if shipment else None,
            ),
            status=201,
        )

    @app.get("/admin/v1/users/<username>/devices/<device_id>/card.html")
    async def print_card(username: str, device_id: str) -> Response:
        grid = await support.code_card(path_param(username), path_param(device_id))
        page = card_html(grid, f"Security Code Card of {username}")
        response = Response(page, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/admin/v1/users/<username>/devices/<device_id>/card.png")
    async def draw_card(username: str, device_id: str) -> Response:
        grid = await support.code_card(path_param(username), path_param(device_id))
        response = Response(card_png(grid), content_type="image/png")
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/admin/v1/users/<username>/temporary-passcode")
    async def temporary_passcode(username: str) -> Response:
        name = path_param(username)
        raw = await request.get_data(cache=True, as_text=False)
        form = await body(schemas.TemporaryPasscodeRequest) if raw else None
        phone = None
        if form is not None and form.deliver == "ibkey":
            await support.user(name)  # not_found before anything else
            phone = await runtime.core.ibkey.phone_of(name)  # before issuing: never lost
        issued = await support.issue_temporary_passcode(name)
        if phone is not None:
            runtime.core.ibkey.deliver_passcode(phone, issued.code)
            delivered = schemas.TemporaryPasscodeDelivered(
                delivered="ibkey",
                device_id=phone.device_id,
                full_until=issued.issued_at + FULL_DAYS * DAY,
                portal_until=issued.issued_at + PORTAL_DAYS * DAY,
            )
            return json(delivered, status=201)
        return json(
            schemas.TemporaryPasscode(
                passcode=issued.code,
                full_until=issued.issued_at + FULL_DAYS * DAY,
                portal_until=issued.issued_at + PORTAL_DAYS * DAY,
            ),
            status=201,
        )

    @app.post("/admin/v1/users/<username>/devices/<device_id>/reactivate")
    async def reactivate(username: str, device_id: str) -> Response:
        ended = await support.reactivate(path_param(username), path_param(device_id))
        return json(
            schemas.Reactivated(device_id=device_id, reactivated=True, sessions_ended=ended)
        )

    @app.delete("/admin/v1/users/<username>/devices/<device_id>")
    async def remove_device(username: str, device_id: str) -> Response:
        """A lost card, phone or passkey: it stops working at once."""
        ended = await support.remove_device(path_param(username), path_param(device_id))
        return json(schemas.DeviceRemoved(device_id=device_id, removed=True, sessions_ended=ended))

    @app.get("/admin/v1/outbox")
    async def outbox() -> Response:
        to = request.args.get("to")
        try:
            after = int(request.args.get("after", "0"))
            limit = min(int(request.args.get("limit", "100")), 1000)
        except ValueError:
            raise BadRequest("after and limit are whole numbers") from None
        found = runtime.core.outbox.messages(to=to, after=after, limit=max(limit, 1))
        return json(
            schemas.Outbox(
                messages=[schemas.OutboxMessage(**msgspec.structs.asdict(m)) for m in found]
            )
        )

    @app.post("/admin/v1/users/<username>/devices/<device_id>/pin")
    async def reset_pin(username: str, device_id: str) -> Response:
        form = await body(schemas.PinReset)
        await support.change_pin(
            path_param(username), path_param(device_id), form.new_pin, old_pin=None
        )
        return json(schemas.PinChanged(device_id=device_id, changed=True))

    @app.post("/admin/v1/users/<username>/unlock")
    async def unlock(username: str) -> Response:
        await support.unlock(path_param(username))
        return json(schemas.Unlocked(username=username, locked=False))

    @app.get("/admin/v1/sessions")
    async def list_sessions() -> Response:
        user = request.args.get("user")
        found = await support.sessions(user)
        return json(schemas.SessionList(sessions=[session_info(sessions, s) for s in found]))

    @app.delete("/admin/v1/sessions/<session_id>")
    async def end_session(session_id: str) -> Response:
        await support.end_session(path_param(session_id))
        return json(schemas.SessionEnded(id=session_id, ended=True))

    @app.post("/admin/v1/clock")
    async def move_clock() -> Response:
        if runtime.test_clock is None:
            raise NotFound()
        form = await body(schemas.ClockRequest)
        now = await runtime.move_clock(advance=form.advance, set_to=form.set)
        return json(schemas.ClockState(now=now))

    @app.get("/admin/v1/clock")
    async def show_clock() -> Response:
        if runtime.test_clock is None:
            raise NotFound()
        return json(schemas.ClockState(now=runtime.clock.now()))

    @app.post("/admin/v1/users/<username>/api-keys")
    async def create_api_key(username: str) -> Response:
        return await new_api_key(support, path_param(username), by="support")

    @app.get("/admin/v1/users/<username>/api-keys")
    async def list_api_keys(username: str) -> Response:
        user = await support.user(path_param(username))
        keys = runtime.core.api_keys.of_user(user.username)
        return json(schemas.ApiKeyList(keys=[schemas.api_key_info(k) for k in keys]))

    @app.delete("/admin/v1/api-keys/<key_id>")
    async def revoke_api_key(key_id: str) -> Response:
        await support.revoke_api_key(path_param(key_id), username=None, by="support")
        return json(schemas.ApiKeyRevoked(key_id=key_id, revoked=True))

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(runtime.metrics.render(), content_type=METRICS_CONTENT_TYPE)

    @app.get("/admin/v1/openapi.json")
    async def openapi_json() -> Response:
        return json(openapi)

    return app


def _delivery(form: schemas.EnrolDeviceRequest, now: float) -> float | None:
    """When a shipped device is delivered; ``None`` when it is not shipped."""
    given = (form.deliver_at is not None) + (form.delivery_days is not None)
    if not form.ships:
        if given:
            raise BadRequest("deliver_at and delivery_days go with ships: true")
        return None
    if form.type not in SHIPPABLE:
        raise BadRequest(f"a {form.type} device is not shipped")
    if given != 1:
        raise BadRequest("ships: true needs one of deliver_at or delivery_days")
    if form.deliver_at is not None:
        return form.deliver_at
    return now + (form.delivery_days or 0.0) * DAY
