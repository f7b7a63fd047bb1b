"""The OpenAPI document, generated from the wire Structs (never written by hand)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway import __version__, schemas

# (method, path, request Struct or None, {status: response Struct}, summary)
Answer = type[msgspec.Struct] | tuple[type[msgspec.Struct], ...]
Operation = tuple[str, str, type[msgspec.Struct] | None, dict[int, Answer], str]

_E = schemas.ErrorBody
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
        {200: schemas.ChallengeResponse, 400: _E, 404: _E, 423: _E},
        "Ask for a method's challenge",
    ),
    (
        "post",
        "/v1/login/{login_id}/verify",
        schemas.VerifyRequest,
        {200: schemas.LoginOk, 401: _E, 404: _E, 409: _E, 423: _E, 429: _E},
        "Answer the second factor",
    ),
    (
        "post",
        "/v1/login/{login_id}/confirm",
        schemas.ConfirmRequest,
        {200: schemas.LoginOk, 400: _E, 404: _E},
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
    ("get", "/healthz", None, {200: schemas.Health}, "Liveness"),
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
        "post",
        "/admin/v1/users/{username}/devices",
        schemas.EnrolDeviceRequest,
        {201: schemas.TotpEnrolled, 404: _E},
        "Enrol a device",
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
]


def openapi_document(
    operations: list[Operation] | None = None, title: str = "login-gateway"
) -> dict[str, Any]:
    operations = PUBLIC if operations is None else operations
    types: list[Any] = []
    for _, _, request, responses, _ in operations:
        types += [request] if request else []
        for answer in responses.values():
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
    kinds = answer if isinstance(answer, tuple) else (answer,)
    schema = refs[kinds[0]] if len(kinds) == 1 else {"oneOf": [refs[k] for k in kinds]}
    return {
        "description": " or ".join(k.__name__ for k in kinds),
        "content": {"application/json": {"schema": schema}},
    }
