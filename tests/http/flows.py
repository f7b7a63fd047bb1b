"""Client-side steps shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.http.harness import GatewayProcess, TotpApp


def start_login(
    gateway: GatewayProcess, username: str, password: str = "secret123", **extra: Any
) -> httpx.Response:
    body = {"username": username, "password": password, "platform": "tws", **extra}
    return gateway.public.post("/v1/login", json=body)


def verify(gateway: GatewayProcess, login_id: str, code: str) -> httpx.Response:
    return gateway.public.post(
        f"/v1/login/{login_id}/verify", json={"method": "totp", "response": code}
    )


def login_with_totp(
    gateway: GatewayProcess, username: str, app: TotpApp, platform: str = "tws", **extra: Any
) -> httpx.Response:
    first = start_login(gateway, username, platform=platform, **extra)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "second_factor"
    assert first.json()["methods"] == ["totp"]
    return verify(gateway, first.json()["login_id"], app.code())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def session_of(gateway: GatewayProcess, token: str) -> httpx.Response:
    return gateway.public.get("/v1/session", headers=bearer(token))


def enrolled_user(gateway: GatewayProcess, username: str) -> TotpApp:
    gateway.create_user(username)
    return gateway.enrol_totp(username)
