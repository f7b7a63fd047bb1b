"""What survives a restart, and what floods get."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.http.flows import enrolled_user, login_with_totp, start_login, verify
from tests.http.harness import TEST_CONFIG


def test_restart_keeps_users_devices_lock_state_and_used_codes(own_gateway):
    gateway = own_gateway.start()
    app = enrolled_user(gateway, "alice")
    gateway.create_user("bob")
    first = start_login(gateway, "alice").json()
    code = app.code()
    assert verify(gateway, first["login_id"], code).status_code == 200
    for _ in range(10):
        start_login(gateway, "bob", password="wrong123")
    assert start_login(gateway, "bob").json()["error"] == "locked"

    gateway.restart()

    assert start_login(gateway, "bob").json()["error"] == "locked"
    # The device (and its secret) survived; the code used before is still used.
    again = start_login(gateway, "alice", platform="portal").json()
    assert again["methods"] == ["totp"]
    assert verify(gateway, again["login_id"], code).json()["error"] == "login_failed"
    gateway.advance(30)
    assert verify(gateway, again["login_id"], app.code()).status_code == 200
    # Support can still unlock the user whose lock survived.
    assert gateway.admin.post("/admin/v1/users/bob/unlock").status_code == 200
    assert start_login(gateway, "bob", platform="portal").json()["status"] == "ok"


def test_secrets_are_not_stored_in_clear(own_gateway):
    gateway = own_gateway.start()
    answer = gateway.admin.post("/admin/v1/users", json={"username": "carol", "password": "pw1234"})
    assert answer.status_code == 201
    device = gateway.admin.post("/admin/v1/users/carol/devices", json={"type": "totp"}).json()
    gateway.stop()
    import base64

    secret = base64.b32decode(device["secret"] + "=" * (-len(device["secret"]) % 8))
    for path in own_gateway.data_dir.iterdir():
        content = path.read_bytes()
        assert secret not in content, path
        assert device["secret"].encode() not in content, path
        assert b"pw1234" not in content, path


def test_concurrent_wrong_attempts_evaluate_exactly_ten(own_gateway):
    gateway = own_gateway.start()
    gateway.create_user("target")
    body = {"username": "target", "password": "wrong123", "platform": "tws"}

    def attempt(_: int) -> str:
        with httpx.Client(base_url=gateway.public_url, timeout=60) as client:
            return str(client.post("/v1/login", json=body).json()["error"])

    with ThreadPoolExecutor(max_workers=40) as pool:
        errors = list(pool.map(attempt, range(200)))
    assert errors.count("invalid_credentials") == 10
    assert set(errors) <= {"invalid_credentials", "locked", "rate_limited"}
    assert start_login(gateway, "target").json()["error"] == "locked"
    assert gateway.admin.get("/admin/v1/users/target").json()["locked"] is True


def test_floods_are_shed_with_retry_after(own_gateway):
    own_gateway.config_path.write_text(
        TEST_CONFIG.replace("ip_burst = 100000", "ip_burst = 3").replace(
            "ip_rate = 1000.0", "ip_rate = 0.5"
        )
    )
    gateway = own_gateway.start()
    answers = [start_login(gateway, "nobody", password="wrong123") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    shed = answers[3]
    assert shed.status_code == 429
    assert shed.json()["error"] == "rate_limited"
    assert shed.headers["retry-after"] == "2"
    gateway.advance(2)
    assert start_login(gateway, "nobody", password="wrong123").status_code == 401


def test_clock_endpoint_needs_the_test_clock_flag(tmp_path):
    from tests.http.harness import GatewayProcess

    gateway = GatewayProcess(tmp_path / "data", test_clock=False).start()
    try:
        answer = gateway.admin.post("/admin/v1/clock", json={"advance": 10})
        assert answer.status_code == 404
        assert answer.json()["error"] == "not_found"
    finally:
        gateway.stop()


def test_totp_login_after_restart(own_gateway):
    gateway = own_gateway.start()
    app = enrolled_user(gateway, "dave")
    gateway.restart()
    assert login_with_totp(gateway, "dave", app).status_code == 200


def test_buckets_refill_with_real_time_under_the_test_clock(own_gateway):
    own_gateway.config_path.write_text(
        TEST_CONFIG.replace("ip_burst = 100000", "ip_burst = 1").replace(
            "ip_rate = 1000.0", "ip_rate = 20.0"
        )
    )
    gateway = own_gateway.start()
    statuses = [start_login(gateway, "nobody", password="wrong123").status_code for _ in range(2)]
    assert statuses == [401, 429]
    # The clock is not moved: only real time can give the token back.
    for _ in range(200):
        if start_login(gateway, "nobody", password="wrong123").status_code == 401:
            break
    else:
        pytest.fail("a drained bucket stayed drained while real time passed")


def test_the_test_clock_resumes_after_a_restart(own_gateway):
    gateway = own_gateway.start()
    moved = gateway.advance(3 * 86_400)
    gateway.restart()
    assert gateway.now() == moved
    assert gateway.advance(1) == moved + 1
