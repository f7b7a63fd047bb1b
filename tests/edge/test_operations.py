"""Metrics, the audit log, health and readiness, trusted proxies for the
per-IP buckets."""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.edge.conftest import TRUSTED_PROXY, edge_config, session_token
from tests.edge.test_forward_auth import verify
from tests.http.harness import TEST_CONFIG, GatewayProcess


def samples(gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = gateway.admin.get("/metrics", headers={"Authorization": ""})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_what_happens(gateway, username):
    gateway.create_user(username)
    before = samples(gateway)
    token = session_token(gateway, username)
    gateway.public.post("/v1/login", json={"username": username, "password": "wrong1234"})
    verify(gateway, "/", Authorization=f"Bearer {token}")
    verify(gateway, "/")
    gateway.public.get("/app/x", headers={"Authorization": f"Bearer {token}"})
    gateway.public.get("/dead/x", headers={"Authorization": f"Bearer {token}"})
    after = samples(gateway)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("gateway_logins_total", result="ok", method="none") == 1
    assert grew("gateway_logins_total", result="failed", method="password") == 1
    assert grew("gateway_forward_auth_total", decision="allow") == 1
    assert grew("gateway_forward_auth_total", decision="deny") == 1
    assert grew("gateway_proxy_requests_total", route="/app", status="2xx") == 1
    assert grew("gateway_upstream_errors_total", route="/dead", kind="unavailable") == 1
    assert grew("gateway_proxy_latency_seconds_count", route="/app") == 1
    assert after[("gateway_active_sessions", (("kind", "trading"),))] >= 1


def test_lockouts_and_rate_limits_are_counted(gateway, username):
    gateway.create_user(username)
    before = samples(gateway)
    for _ in range(10):
        gateway.public.post("/v1/login", json={"username": username, "password": "wrong1234"})
    assert (
        gateway.public.post(
            "/v1/login", json={"username": username, "password": "secret123"}
        ).json()["error"]
        == "locked"
    )
    after = samples(gateway)
    assert (
        after[("gateway_lockouts_total", ())] - before.get(("gateway_lockouts_total", ()), 0) == 1
    )


def test_the_audit_log_has_a_line_per_security_event_and_no_secret(tmp_path, upstream, username):
    audit = tmp_path / "audit.jsonl"
    config = edge_config(upstream.url) + f'\n[audit]\npath = "{audit}"\n'
    gateway = GatewayProcess(tmp_path / "data", config).start()
    try:
        gateway.create_user(username, password="hunter2pass9")
        gateway.public.post("/v1/login", json={"username": username, "password": "wrong1234"})
        token = session_token_with(gateway, username, "hunter2pass9")
        answer = gateway.public.post(
            "/v1/login",
            json={"username": username, "password": "hunter2pass9", "platform": "mobile"},
        )
        gateway.public.post(
            f"/v1/login/{answer.json()['login_id']}/confirm", json={"takeover": True}
        )
        key = gateway.admin.post(
            f"/admin/v1/users/{username}/api-keys",
            json={"name": "bot", "scopes": [{"route": "app"}]},
        ).json()
        verify(gateway, "/app", **{"X-API-Key": key["key"]})
        gateway.admin.post(f"/admin/v1/users/{username}/unlock")
        gateway.admin.delete(f"/admin/v1/api-keys/{key['key_id']}")
    finally:
        gateway.stop()
    text = audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    events = [line["event"] for line in lines]
    for expected in (
        "user_created",
        "login_failed",
        "login_ok",
        "takeover",
        "api_key_created",
        "api_key_used",
        "unlocked",
        "api_key_revoked",
    ):
        assert expected in events, events
    assert all(line["ts"] and line.get("user") == username for line in lines)
    for secret in ("hunter2pass9", "wrong1234", token, key["key"]):
        assert secret not in text


def session_token_with(gateway, username, password):
    answer = gateway.public.post(
        "/v1/login", json={"username": username, "password": password, "platform": "tws"}
    )
    return answer.json()["token"]


def test_health_and_readiness(gateway):
    assert gateway.public.get("/healthz").json()["status"] == "ok"
    ready = gateway.public.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_per_ip_buckets_believe_forwarded_addresses_only_from_trusted_proxies(tmp_path):
    import httpx

    config = (
        TEST_CONFIG.replace("ip_rate = 1000.0", "ip_rate = 0.001").replace(
            "ip_burst = 100000", "ip_burst = 2"
        )
        + f'\n[http]\ntrusted_proxies = ["{TRUSTED_PROXY}/32"]\n'
    )
    gateway = GatewayProcess(tmp_path / "data", config).start()
    body = {"username": "nobody", "password": "wrong1234"}
    try:
        # A forged header from an untrusted peer changes nothing: one bucket.
        forged = [
            gateway.public.post(
                "/v1/login", json=body, headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(3)
        ]
        assert forged == [401, 401, 429]
        # Behind the trusted proxy every client has its own bucket.
        transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
        with httpx.Client(base_url=gateway.public_url, transport=transport) as proxy:
            relayed = [
                proxy.post(
                    "/v1/login", json=body, headers={"X-Forwarded-For": f"198.51.100.{n}"}
                ).status_code
                for n in range(4)
            ]
            assert relayed == [401, 401, 401, 401]
            same = [
                proxy.post(
                    "/v1/login", json=body, headers={"Forwarded": 'for="198.51.100.50:4711"'}
                ).status_code
                for _ in range(3)
            ]
            assert same == [401, 401, 429]
    finally:
        gateway.stop()


def test_a_killed_gateways_socket_directory_is_removed_at_the_next_start(
    tmp_path, upstream, monkeypatch
):
    # A scratch temporary directory of its own, short enough for a socket path.
    scratch = Path(tempfile.mkdtemp(prefix="gw-"))
    monkeypatch.setenv("TMPDIR", str(scratch))
    config = edge_config(upstream.url)
    try:
        killed = GatewayProcess(tmp_path / "killed", config).start()
        killed.process.kill()
        killed.process.wait()
        killed.stop()
        (left,) = scratch.glob("login-gateway-*")
        assert (left / "control.sock").exists()
        live = GatewayProcess(tmp_path / "live", config).start()
        try:
            (live_dir,) = set(scratch.glob("login-gateway-*")) - {left}
            unbound_old = scratch / "login-gateway-old"
            unbound_young = scratch / "login-gateway-young"
            for unbound in (unbound_old, unbound_young):
                unbound.mkdir(mode=0o700)
            os.utime(unbound_old, (time.time() - 3600, time.time() - 3600))
            started = GatewayProcess(tmp_path / "started", config).start()
            started.stop()
            remaining = set(scratch.glob("login-gateway-*"))
            assert left not in remaining and unbound_old not in remaining
            # A live gateway's, and one that may be a gateway still starting, stay.
            assert {live_dir, unbound_young} <= remaining
            assert live.public.get("/openapi.json").status_code == 200  # relayed: socket intact
        finally:
            live.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
