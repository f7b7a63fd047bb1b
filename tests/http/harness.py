"""A real gateway process on loopback, driven over real HTTP.

``GatewayProcess`` starts ``login-gateway serve`` (the console script the
README tells users to run) on port 0, reads the bound addresses from the JSON
line it prints, and talks to it with httpx. No sleeps: readiness is the
``listening`` line, and time moves only through the test clock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

import _fastcore

ADMIN_TOKEN = "test-admin-token-0123456789"
START_TIMEOUT = 60.0

# Cheap hashing and generous buckets so the suite measures behaviour, not
# Argon2id; tests of the limits use their own config.
TEST_CONFIG = """
[argon2]
profile = "insecure-load-test"

[rate_limits]
ip_rate = 1000.0
ip_burst = 100000
user_rate = 1000.0
user_burst = 100000

[sms]
code_seconds = 120  # shorter than a login (300 s), so a test can outlive the code alone
"""


def gateway_command() -> list[str]:
    script = shutil.which("login-gateway", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "gateway.cli"]


class GatewayProcess:
    def __init__(self, data_dir: Path, config_text: str = TEST_CONFIG, test_clock: bool = True):
        self.data_dir = data_dir
        self.config_path = data_dir.parent / f"{data_dir.name}.toml"
        self.config_path.write_text(config_text)
        self.test_clock = test_clock
        self.process: subprocess.Popen[str] | None = None
        self.public: httpx.Client
        self.admin: httpx.Client
        self.output: list[str] = []
        self._more_output = threading.Condition()

    def start(self, admin_token: str | None = ADMIN_TOKEN) -> GatewayProcess:
        """Start it; ``admin_token=None`` lets the gateway make its own."""
        command = [
            *gateway_command(),
            "serve",
            "--config",
            str(self.config_path),
            "--data-dir",
            str(self.data_dir),
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
        ]
        if self.test_clock:
            command.append("--test-clock")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("GATEWAY_ADMIN_TOKEN", None)
        if admin_token is not None:
            env["GATEWAY_ADMIN_TOKEN"] = admin_token
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        ready = self._wait_for("listening")
        self.public_url = ready["public"][0]
        self.admin_url = ready["admin"][0]
        self.public = httpx.Client(base_url=self.public_url, timeout=30)
        self.admin = httpx.Client(
            base_url=self.admin_url,
            timeout=30,
            headers={"Authorization": f"Bearer {admin_token or ''}"},
        )
        return self

    def _wait_for(self, event: str) -> dict[str, Any]:
        """Read the gateway's output on a thread for as long as it runs (an
        undrained pipe would block the gateway once it fills), and wait for
        the JSON line announcing ``event``."""
        assert self.process is not None and self.process.stdout is not None
        found: dict[str, Any] = {}
        ready = threading.Event()

        def drain(stream: Any) -> None:
            for line in stream:
                with self._more_output:
                    self.output.append(line)
                    self._more_output.notify_all()
                if not ready.is_set() and line.startswith("{"):
                    message = json.loads(line)
                    if message.get("event") == event:
                        found.update(message)
                        ready.set()
            ready.set()  # the process ended: stop waiting

        threading.Thread(target=drain, args=(self.process.stdout,), daemon=True).start()
        if ready.wait(START_TIMEOUT) and found:
            return found
        self.stop()
        raise RuntimeError("gateway did not start:\n" + "".join(self.output))

    def lines_after(self, start: int, needle: str, count: int = 1) -> list[str]:
        """The output lines after line ``start`` that contain ``needle``, once
        there are ``count`` of them: the gateway has written them by the time
        it answered, but the thread reading its pipe may not have them yet."""

        def found() -> list[str]:
            return [line for line in self.output[start:] if needle in line]

        with self._more_output:
            self._more_output.wait_for(lambda: len(found()) >= count, timeout=START_TIMEOUT)
            return found()

    def stop(self) -> int | None:
        if self.process is None:
            return None
        # Idle keep-alive connections would hold the graceful shutdown open.
        for client in ("public", "admin"):
            if hasattr(self, client):
                getattr(self, client).close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def restart(self) -> GatewayProcess:
        self.stop()
        return self.start()

    # --- conveniences over the admin API -----------------------------------

    def now(self) -> float:
        return float(self.admin.get("/admin/v1/clock").json()["now"])

    def advance(self, seconds: float) -> float:
        response = self.admin.post("/admin/v1/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text
        return float(response.json()["now"])

    def create_user(self, username: str, password: str = "secret123", **extra: str) -> None:
        response = self.admin.post(
            "/admin/v1/users", json={"username": username, "password": password, **extra}
        )
        assert response.status_code == 201, response.text

    def enrol_totp(self, username: str) -> TotpApp:
        response = self.admin.post(f"/admin/v1/users/{username}/devices", json={"type": "totp"})
        assert response.status_code == 201, response.text
        return TotpApp(self, response.json()["secret"])


class TotpApp:
    """The authenticator app, reading the gateway's (test) clock."""

    def __init__(self, gateway: GatewayProcess, secret_base32: str) -> None:
        import base64

        self.gateway = gateway
        padded = secret_base32 + "=" * (-len(secret_base32) % 8)
        self.key = _fastcore.HmacKey(base64.b32decode(padded))

    def code(self, offset_steps: int = 0) -> str:
        step = int(self.gateway.now() // 30) + offset_steps
        return _fastcore.hotp(self.key, step)
