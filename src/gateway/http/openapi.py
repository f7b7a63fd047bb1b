"""The OpenAPI document, generated from the wire Structs (never written by hand)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway import __version__, schemas

# (method, path, request Struct or None, {status: response Struct}, summary)
Answer = type[msgspec.Struct] | tuple[type[msgspec.Struct], ...] | str
Operation = tuple[str, str, type[msgspec.Struct] | None, dict[int, Answer], str]
# A ``str`` answer has no JSON body: the string describes it.
_UPSTREAM = (
    "502/504: the upstream could not be reached or did not answer in time. SPEC section 9 "
    "has no code for it: the body is the SPEC error form with `not_found`, the status says which."
)

_E = schemas.ErrorBody
_FORWARD_AUTH_ANSWERS: dict[int, Answer] = {
    200: "allowed: empty body; identity in X-Auth-User, X-Auth-Account, "
    "X-Auth-Platform, X-Auth-Method, X-Auth-Session (or X-Auth-Key), "
    "X-Auth-Limit-Day, X-Auth-Limit-5d",
    302: "a browser (Accept: text/html) behind Traefik or Caddy (X-Forwarded-Uri): "
    "Location is the login page with rd=<the URL asked for>",
    400: _E,
    401: _E,
    403: _E,
    429: _E,
}
_FORWARD_AUTH: list[Operation] = [
    (
        method,
        "/auth/verify",
        None,
        _FORWARD_AUTH_ANSWERS,
        "Forward auth for nginx auth_request, Traefik ForwardAuth, Caddy forward_auth; "
        "any method but CONNECT and TRACE (405). Answers only peers in [http] "
        "trusted_proxies (403 otherwise); the original request in "
        "X-Forwarded-Method/-Uri/-Host/-Proto or X-Original-Method/-URI, which must "
        "agree; a public rule passes a stale credential as anonymous",
    )
    for method in ("get", "head", "post", "put", "patch", "delete", "options")
]
PUBLIC: list[Operation] = [
    (
        "post",
        "/v1/login",
        schemas.LoginRequest,
        {
            200: schemas.LoginOk,
            202: schemas.SecondFactorRequired,
            400: _E,
            401: _E,
            409: _E,
            423: _E,
            429: _E,
        },
        "Password step of a login",
    ),
    (
        "post",
        "/v1/login/{login_id}/challenge",
        schemas.ChallengeRequest,
        {200: schemas.ChallengeResponse, 400: _E, 404: _E, 423: _E, 429: _E},
        "Ask for a method's challenge (passkey: WebAuthn request options in `options`)",
    ),
    (
        "post",
        "/v1/login/{login_id}/verify",
        schemas.VerifyRequest,
        {200: schemas.LoginOk, 401: _E, 404: _E, 409: _E, 423: _E, 429: _E},
        "Answer the second factor (passkey: the assertion, PublicKeyCredential.toJSON(), "
        "as the response string)",
    ),
    (
        "post",
        "/v1/login/{login_id}/confirm",
        schemas.ConfirmRequest,
        {200: schemas.LoginOk, 400: _E, 404: _E, 423: _E, 429: _E},
        "Confirm (or decline) a session takeover",
    ),
    ("get", "/v1/login/{login_id}", None, {200: schemas.LoginStatus, 404: _E}, "Login state"),
    ("get", "/v1/session", None, {200: schemas.SessionStatus, 401: _E}, "Check the session"),
    (
        "post",
        "/v1/session/tickle",
        None,
        {200: schemas.SessionStatus, 401: _E},
        "Keep the session alive",
    ),
    ("post", "/v1/logout", None, {200: schemas.LoggedOut, 401: _E}, "End the session"),
    (
        "get",
        "/v1/session/events",
        None,
        {200: schemas.SessionStatus, 401: _E},
        "Server-sent events of the session: replaced, expired, ended",
    ),
    (
        "post",
        "/v1/devices/{device_id}/pin",
        schemas.PinChange,
        {200: schemas.PinChanged, 401: _E, 403: _E},
        "Change the PIN of one of the session user's cards (the old PIN is needed)",
    ),
    (
        "post",
        "/v1/devices/{device_id}/reactivate",
        schemas.ReactivationProof,
        {
            200: (schemas.ReactivationChallenge, schemas.Reactivated),
            401: _E,
            423: _E,
            429: _E,
        },
        "Reactivate a security device by answering with it: without a response, the "
        "challenge; with one, the reactivation (ends the interim credentials and their "
        "sessions)",
    ),
    (
        "post",
        "/v1/devices/{device_id}/activate",
        schemas.ReactivationProof,
        {
            200: (schemas.ReactivationChallenge, schemas.DeviceActivated),
            400: _E,
            401: _E,
            403: _E,
            404: _E,
            423: _E,
            429: _E,
        },
        "Activate a card support shipped (pending until then: not offered at login) by "
        "answering with it: `{}` gives its challenge, `{response}` activates it (a wrong one "
        "counts like a failed login); with the user's devices suspended this is a "
        "reactivation too (sessions_ended). Unactivated, it activates by itself "
        "[devices] auto_activate_days after delivery",
    ),
    (
        "post",
        "/v1/account/email",
        schemas.EmailChangeRequest,
        {
            200: schemas.EmailChanged,
            202: schemas.EmailCodeSent,
            400: _E,
            401: _E,
            403: _E,
            423: _E,
            429: _E,
        },
        "Change the session user's e-mail. `{new_email}`: a 6-digit code goes to the e-mail "
        "on record (202; confirm it below). `{new_email, password}`: the password is checked "
        "like a login (a wrong one counts toward the lockout: 401 invalid_credentials) and "
        "the e-mail changes at once (200). The old address is told either way",
    ),
    (
        "post",
        "/v1/account/email/confirm",
        schemas.EmailChangeConfirmation,
        {200: schemas.EmailChanged, 401: _E, 403: _E, 404: _E, 423: _E, 429: _E},
        "Confirm an e-mail change with the code sent to the old address: good once and for "
        "15 minutes; a wrong one counts like a failed login (401 login_failed) and three end "
        "the change (404)",
    ),
    (
        "post",
        "/v1/passkeys",
        schemas.PasskeyRegistration,
        {
            200: schemas.PasskeyOptions,
            201: schemas.PasskeyInfo,
            400: _E,
            401: _E,
            403: _E,
            404: _E,
        },
        "Register a passkey from a full session (not an interim credential's): `{}` gives "
        "WebAuthn creation options for navigator.credentials.create() (user verification "
        "required, resident keys preferred, the user's passkeys excluded); `{credential}` "
        "(PublicKeyCredential.toJSON(), an object or a string) keeps it (404 when no "
        "options wait); the e-mail on record is told",
    ),
    ("get", "/v1/passkeys", None, {200: schemas.PasskeyList, 401: _E, 403: _E}, "Passkeys"),
    (
        "delete",
        "/v1/passkeys/{device_id}",
        None,
        {200: schemas.DeviceRemoved, 401: _E, 403: _E, 404: _E},
        "Remove one of the session user's passkeys; the sessions it opened end",
    ),
    (
        "post",
        "/v1/recovery/password",
        schemas.PasswordRecovery,
        {202: schemas.RecoveryStarted, 400: _E, 429: _E},
        "Forgot password: the same answer for any username; a code goes to the e-mail "
        "(else the phone) on record. 429 (Retry-After) past the per-address or per-name "
        "limits, which hold alike for every name",
    ),
    (
        "post",
        "/v1/recovery/password/{recovery_id}",
        schemas.PasswordReset,
        {200: schemas.PasswordResetDone, 401: _E, 403: _E, 423: _E, 429: _E},
        "Set the new password with the code (wrong codes count like failed logins; with an "
        "IB Key active its approval comes first: 403 until then); ends the user's sessions "
        "and revokes all the user's API keys at once (api_keys_revoked: how many)",
    ),
    (
        "post",
        "/v1/recovery/username",
        schemas.UsernameRecovery,
        {202: schemas.Accepted, 429: _E},
        "Forgot username: it goes to that e-mail if a user has it; the same answer either way "
        "(429 with Retry-After past the per-address limit)",
    ),
    (
        "post",
        "/v1/online-card",
        None,
        {
            201: (schemas.OnlineCardPrinted,),
            401: _E,
            403: _E,
        },
        "Print the online security card from a portal session (?format=html or png for a "
        "page or an image); valid 21 days; a reprint replaces it",
    ),
    (
        "post",
        "/v1/withdrawals/check",
        schemas.WithdrawalRequest,
        {200: schemas.WithdrawalStanding, 401: _E},
        "Whether an amount fits the session's limits (the tier of the method that "
        "authenticated it) over the last 24 h and 5 business days",
    ),
    (
        "post",
        "/v1/withdrawals",
        schemas.WithdrawalRequest,
        {201: schemas.WithdrawalStanding, 401: _E, 403: schemas.WithdrawalRefused},
        "Record a withdrawal that fits (201, what remains after it); 403 forbidden, with the "
        "same fields, when it does not",
    ),
    (
        "post",
        "/v1/ibkey/activations",
        schemas.ActivationRequest,
        {202: schemas.ActivationStarted, 401: _E, 423: _E, 429: _E},
        "IB Key activation on the phone: the password is checked like a login and an "
        "8-digit activation token goes by SMS to the phone on record",
    ),
    (
        "post",
        "/v1/ibkey/activations/{activation_id}",
        schemas.ActivationCompletion,
        {201: schemas.IbKeyActivated, 401: _E},
        "Complete an activation with the token, the phone's Ed25519 public key and a PIN; "
        "ends any other IB Key of the user at once (the OCRA key is shown once)",
    ),
    (
        "get",
        "/v1/ibkey/{device_id}/approvals",
        None,
        {200: schemas.ApprovalList, 403: _E},
        "The phone's pending push approvals; headers X-IBKey-Time (Unix seconds, within 60 s) "
        "and X-IBKey-Signature (b64u Ed25519 over 'list\\n{device_id}\\n{time}')",
    ),
    (
        "post",
        "/v1/ibkey/{device_id}/approvals/{approval_id}",
        schemas.ApprovalAnswer,
        {200: schemas.ApprovalAnswered, 403: _E},
        "Approve or deny a push; signature: b64u Ed25519 over "
        "'{approval_id}\\n{nonce}\\n{decision}'",
    ),
    ("get", "/healthz", None, {200: schemas.Health}, "Liveness"),
    (
        "get",
        "/readyz",
        None,
        {200: schemas.Health, 503: schemas.Health},
        "Readiness: 200 once the store is open and the listeners are up, 503 while stopping",
    ),
    ("get", "/openapi.json", None, {200: "this document"}, "The OpenAPI document"),
    *_FORWARD_AUTH,
    (
        "post",
        "/v1/api-keys",
        schemas.CreateApiKeyRequest,
        {201: schemas.ApiKeyCreated, 400: _E, 401: _E, 403: _E},
        "Create an API key for the session's user (the key is shown once). A session grants "
        "only what it could use itself: each scope must be the api_key_scope of a route or "
        "forward-auth rule that admits this session's kind, rate and burst at most the "
        "configured defaults, and a session opened by a temporary passcode or online card "
        "grants nothing (403 forbidden, naming the scope); methods are upper-case HTTP "
        "methods (400 otherwise)",
    ),
    ("get", "/v1/api-keys", None, {200: schemas.ApiKeyList, 401: _E}, "The user's API keys"),
    (
        "delete",
        "/v1/api-keys/{key_id}",
        None,
        {200: schemas.ApiKeyRevoked, 401: _E, 404: _E},
        "Revoke one of the user's API keys (effective at once)",
    ),
    (
        "get",
        "/{proxied route}",
        None,
        {401: _E, 403: _E, 404: _E, 413: _E, 429: _E, 502: _UPSTREAM, 504: _UPSTREAM},
        "Every configured proxy route (any method): the upstream's answer, or these "
        "(404: no route and no endpoint of the gateway's at that path)",
    ),
]
ADMIN: list[Operation] = [
    (
        "post",
        "/admin/v1/users",
        schemas.CreateUserRequest,
        {201: schemas.UserInfo, 400: _E},
        "Create a user",
    ),
    ("get", "/admin/v1/users/{username}", None, {200: schemas.UserInfo, 404: _E}, "Show a user"),
    (
        "patch",
        "/admin/v1/users/{username}",
        schemas.UpdateContactsRequest,
        {200: schemas.UserInfo, 400: _E, 404: _E},
        "Change a user's e-mail and/or phone (checked as at creation); the old e-mail and "
        "the old phone are each told of the change",
    ),
    (
        "post",
        "/admin/v1/users/{username}/devices",
        schemas.EnrolDeviceRequest,
        {
            201: (
                schemas.TotpEnrolled,
                schemas.CardEnrolled,
                schemas.SmsEnrolled,
                schemas.CodeCardEnrolled,
            ),
            404: _E,
        },
        "Enrol a device: totp, an OCRA card (dscplus, platinum, gold, dsc), sms, or scc. "
        "An OCRA card's answer says whether the gateway checks its PIN (pin_checked; false "
        "for dsc, whose PIN unlocks the card itself). With ships: true and deliver_at (Unix "
        "time) or delivery_days, a card or scc is shipped: pending, not offered at login, "
        "until its holder activates it or [devices] auto_activate_days after delivery",
    ),
    (
        "post",
        "/admin/v1/users/{username}/devices/{device_id}/pin",
        schemas.PinReset,
        {200: schemas.PinChanged, 404: _E},
        "Set a card's PIN (a forgotten PIN)",
    ),
    (
        "post",
        "/admin/v1/users/{username}/unlock",
        None,
        {200: schemas.Unlocked, 404: _E},
        "Unlock a user",
    ),
    ("get", "/admin/v1/sessions", None, {200: schemas.SessionList}, "List sessions"),
    (
        "get",
        "/admin/v1/users/{username}/devices/{device_id}/card.html",
        None,
        {200: "text/html: the Security Code Card as a page to print", 404: _E},
        "Print a Security Code Card (page)",
    ),
    (
        "get",
        "/admin/v1/users/{username}/devices/{device_id}/card.png",
        None,
        {200: "image/png: the Security Code Card", 404: _E},
        "Print a Security Code Card (image)",
    ),
    (
        "post",
        "/admin/v1/users/{username}/temporary-passcode",
        schemas.TemporaryPasscodeRequest,
        {
            201: (schemas.TemporaryPasscode, schemas.TemporaryPasscodeDelivered),
            400: _E,
            403: _E,
            404: _E,
        },
        "Issue a temporary passcode (suspends the user's security devices; forbidden when "
        "the previous interim credential was one too). The body may be empty; with "
        "deliver: ibkey the passcode goes to the user's IB Key as an approvals-list item "
        "sealed for that phone (see Approval.sealed), and the answer says delivered: ibkey "
        "and never holds the passcode; 400 without an active IB Key",
    ),
    (
        "post",
        "/admin/v1/users/{username}/devices/{device_id}/reactivate",
        None,
        {200: schemas.Reactivated, 404: _E},
        "Reactivate a security device: ends the temporary passcode, the online card and "
        "their sessions at once",
    ),
    (
        "delete",
        "/admin/v1/users/{username}/devices/{device_id}",
        None,
        {200: schemas.DeviceRemoved, 404: _E},
        "Remove a user's device (a lost card, phone or passkey): it stops working at once "
        "and the sessions it opened end",
    ),
    (
        "get",
        "/admin/v1/outbox",
        None,
        {200: schemas.Outbox, 400: _E},
        "Messages sent to users (query: to, after=<id>, limit), oldest first",
    ),
    (
        "delete",
        "/admin/v1/sessions/{session_id}",
        None,
        {200: schemas.SessionEnded, 404: _E},
        "End a session",
    ),
    (
        "post",
        "/admin/v1/clock",
        schemas.ClockRequest,
        {200: schemas.ClockState, 404: _E},
        "Move the test clock (only with --test-clock)",
    ),
    (
        "get",
        "/admin/v1/clock",
        None,
        {200: schemas.ClockState, 404: _E},
        "Read the test clock (only with --test-clock)",
    ),
    (
        "post",
        "/admin/v1/users/{username}/api-keys",
        schemas.CreateApiKeyRequest,
        {201: schemas.ApiKeyCreated, 400: _E, 403: _E, 404: _E},
        "Create an API key for a user (the key is shown once): any scope a route or "
        "forward-auth rule names (403 for one none names), at any rate",
    ),
    (
        "get",
        "/admin/v1/users/{username}/api-keys",
        None,
        {200: schemas.ApiKeyList, 404: _E},
        "A user's API keys",
    ),
    (
        "delete",
        "/admin/v1/api-keys/{key_id}",
        None,
        {200: schemas.ApiKeyRevoked, 404: _E},
        "Revoke an API key (effective at once)",
    ),
    (
        "get",
        "/metrics",
        None,
        {200: "Prometheus text format 0.0.4 (no admin token needed)"},
        "Metrics",
    ),
    ("get", "/admin/v1/openapi.json", None, {200: "this document"}, "The OpenAPI document"),
]


def with_common_errors(operations: list[Operation], *, admin: bool) -> list[Operation]:
    """Add the answers every operation of its kind can give: 400 (a
    malformed body, path or query: ``bad_request``, or ``bad_character`` for
    a username), 404 where the path names something, 413 where there is a
    body, and 401 on the admin API (no or a wrong token)."""
    widened: list[Operation] = []
    for method, path, request, responses, summary in operations:
        extra: dict[int, Answer] = {}
        if request is not None or "{" in path:
            extra[400] = _E
        if "{" in path:
            extra[404] = _E
        if request is not None:
            extra[413] = _E
        if admin and path != "/metrics":
            extra[401] = _E
        widened.append((method, path, request, {**extra, **responses}, summary))
    return widened


def openapi_document(
    operations: list[Operation] | None = None, title: str = "login-gateway"
) -> dict[str, Any]:
    operations = with_common_errors(
        PUBLIC if operations is None else operations, admin=operations is ADMIN
    )
    types: list[Any] = []
    for _, _, request, responses, _ in operations:
        types += [request] if request else []
        for answer in responses.values():
            if isinstance(answer, str):
                continue
            types += list(answer) if isinstance(answer, tuple) else [answer]
    schemas_, components = msgspec.json.schema_components(
        list(dict.fromkeys(types)), ref_template="#/components/schemas/{name}"
    )
    refs = dict(zip(dict.fromkeys(types), schemas_, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for method, path, request, responses, summary in operations:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {
                str(status): _response(answer, refs) for status, answer in responses.items()
            },
        }
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[request]}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "paths": paths,
        "components": {"schemas": components},
    }


def _response(answer: Answer, refs: dict[Any, Any]) -> dict[str, Any]:
    if isinstance(answer, str):
        if answer.startswith("502"):
            return {
                "description": answer,
                "content": {"application/json": {"schema": refs[schemas.ErrorBody]}},
            }
        return {"description": answer}
    kinds = answer if isinstance(answer, tuple) else (answer,)
    schema = refs[kinds[0]] if len(kinds) == 1 else {"oneOf": [refs[k] for k in kinds]}
    return {
        "description": " or ".join(k.__name__ for k in kinds),
        "content": {"application/json": {"schema": schema}},
    }
