"""The full measurement: baselines and every scenario in one run, then the
figures table of bench/README.md (``load.md``) from their JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.load.baseline import run_baselines, small_upstream
from bench.load.run import RunSpec, run

# (label, scenario, settings). Production-cost runs use fewer users: each
# user's creation and each login costs a 64 MiB hash on the gateway's core.
EDGE: list[tuple[str, str, dict[str, Any]]] = [
    ("session-check", "session-traffic", {"extra": {"mix": "session"}}),
    ("forward-auth", "session-traffic", {"extra": {"mix": "auth_verify"}}),
    ("proxied", "session-traffic", {"extra": {"mix": "proxied"}, "upstream": True}),
]
SUITE: list[tuple[str, str, dict[str, Any]]] = [
    *EDGE,
    ("session-traffic", "session-traffic", {}),
    ("login-storm", "login-storm", {}),
    ("login-storm-memory", "login-storm", {"store": "memory"}),
    ("dscplus-storm", "dscplus-storm", {}),
    ("ibkey-storm", "ibkey-storm", {"users": 100}),
    ("passkey-storm", "passkey-storm", {}),
    (
        "login-storm-production",
        "login-storm",
        {"argon2": "production", "users": 60, "connections": 8},
    ),
    # Unpinned: the gateway may use both cores, as a 4-lane hash does.
    (
        "login-storm-production-2cores",
        "login-storm",
        {"argon2": "production", "users": 60, "connections": 8, "pin": False},
    ),
    ("credential-stuffing", "credential-stuffing", {}),
    ("takeover-churn", "takeover-churn", {}),
    ("lockout-storm", "lockout-storm", {}),
    ("lockout-storm-production", "lockout-storm", {"argon2": "production"}),
]


def run_suite(
    duration: float, out: Path, pin: bool = True, progress: bool = True, edge_only: bool = False
) -> str:
    """Baselines, then every scenario (``edge_only``: the data-plane ones),
    in one run; writes and returns the figures table."""
    with small_upstream() as upstream:
        run_baselines(duration, None, out, pin=pin, progress=progress, upstream=upstream)
        for label, scenario, settings in EDGE if edge_only else SUITE:
            chosen: dict[str, Any] = {"pin": pin, **settings}
            if chosen.pop("upstream", False):
                chosen["upstream"] = upstream
            spec = RunSpec(scenario, duration=duration, label=label, out=out, progress=progress)
            for key, value in chosen.items():
                setattr(spec, key, value)
            run(spec)
    table = summarize(out)
    (out / ("edge.md" if edge_only else "load.md")).write_text(table)
    return table


def _load(out: Path, label: str) -> dict[str, Any] | None:
    path = out / f"{label}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    ratio = a / b
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


def _op_rate(result: dict[str, Any] | None, op: str) -> float | None:
    if result is None or op not in result["ops"]:
        return None
    return result["ops"][op]["ok_rate_per_s"]


def _p(result: dict[str, Any] | None, op: str, percent: str) -> float | None:
    if result is None or op not in result["ops"]:
        return None
    value = result["ops"][op]["latency_us"]["percentiles"][percent]
    return None if value is None else value / 1000


Row = tuple[str, str, str, str]


def summarize(out: Path) -> str:
    """The figures table from the JSON files in ``out``."""
    r: dict[str, Any] = {label: _load(out, label) for label, _, _ in SUITE}
    bare = _load(out, "baseline-bare-hypercorn-trio")
    nginx = _load(out, "baseline-nginx")
    wrk = _load(out, "baseline-wrk-nginx")
    first = next((x for x in (*r.values(), bare, nginx) if x), None)
    if first is None:
        return f"No load results in {out}\n"
    raw = _load(out, "baseline-raw-trio")
    proxy_pass = _load(out, "baseline-nginx-proxy-pass")
    rows = [
        *_edge_rows(r, bare, raw, proxy_pass),
        *_session_rows(r, bare),
        *_ceiling_rows(nginx, wrk, bare),
        *_login_rows(r),
        *_stuffing_rows(r["credential-stuffing"]),
        *_churn_rows(r["takeover-churn"]),
        *_lockout_rows(r),
    ]
    m = first["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores; {m['os']}; Python {m['python']}, "
        f"uvloop {m['uvloop']}, httptools {m['httptools']}, {m['openssl']}. Server pinned "
        f"to CPU 0, generator to CPU 1 (unless the row says otherwise). "
        f"Measured {first['finished_at'][:10]}.",
        "",
        "| figure | value | next to | ratio |",
        "|---|---:|---|---:|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
    ]
    return "\n".join(lines) + "\n"


def _edge_rows(
    r: dict[str, Any],
    bare: dict[str, Any] | None,
    raw: dict[str, Any] | None,
    proxy_pass: dict[str, Any] | None,
) -> list[Row]:
    """The data plane against its baselines: the control plane's stack
    (target >= 10x), the raw Trio responder (>= 0.5), nginx proxy_pass
    (>= 0.25)."""
    bare_rate, raw_rate = _op_rate(bare, "ping"), _op_rate(raw, "ping")
    rows: list[Row] = []
    for label, op, what in (
        ("forward-auth", "auth_verify", "forward-auth decisions/s (GET /auth/verify)"),
        ("session-check", "session", "session checks/s on the data plane (GET /v1/session)"),
    ):
        rate, p99 = _op_rate(r.get(label), op), _p(r.get(label), op, "p99")
        rows.append(
            (
                what,
                _fmt(rate),
                f"bare Hypercorn-Trio: {_fmt(bare_rate)} req/s",
                _ratio(rate, bare_rate),
            )
        )
        rows.append(
            (
                f"{what}, p99 {_fmt(p99, 2)} ms",
                _fmt(rate),
                f"raw Trio + httptools: {_fmt(raw_rate)} req/s, p99 "
                f"{_fmt(_p(raw, 'ping', 'p99'), 2)} ms",
                _ratio(rate, raw_rate),
            )
        )
    proxied = r.get("proxied")
    rate, p99 = _op_rate(proxied, "proxied"), _p(proxied, "proxied", "p99")
    nginx_rate = _op_rate(proxy_pass, "ping")
    rows.append(
        (
            f"proxied requests/s with a session (GET /upstream/ping), p99 {_fmt(p99, 2)} ms",
            _fmt(rate),
            f"nginx proxy_pass to the same upstream: {_fmt(nginx_rate)} req/s, p99 "
            f"{_fmt(_p(proxy_pass, 'ping', 'p99'), 2)} ms",
            _ratio(rate, nginx_rate),
        )
    )
    return rows


def _session_rows(r: dict[str, Any], bare: dict[str, Any] | None) -> list[Row]:
    bare_rate = _op_rate(bare, "ping")
    reference = f"bare Hypercorn-Trio app: {_fmt(bare_rate)} req/s"
    rows: list[Row] = []
    mix = r["session-traffic"]
    if mix:
        weights = mix["headline"]["mix"]
        rate = sum(_op_rate(mix, name) or 0 for name in weights)
        shown = ", ".join(f"{k} {v}" for k, v in weights.items())
        rows.append(
            (f"session-traffic req/s, mix {shown}", _fmt(rate), reference, _ratio(rate, bare_rate))
        )
    return rows


def _ceiling_rows(
    nginx: dict[str, Any] | None, wrk: dict[str, Any] | None, bare: dict[str, Any] | None
) -> list[Row]:
    generator = _op_rate(nginx, "ping")
    wrk_rate = wrk["headline"].get("requests_per_s") if wrk else None
    bare_rate = _op_rate(bare, "ping")
    return [
        (
            "generator ceiling: its req/s against nginx return 200",
            _fmt(generator),
            f"wrk (C, 1 thread, same core) against the same nginx: {_fmt(wrk_rate)} req/s",
            _ratio(generator, wrk_rate),
        ),
        (
            "generator ceiling / bare Hypercorn-Trio app",
            _fmt(generator),
            f"{_fmt(bare_rate)} req/s",
            _ratio(generator, bare_rate),
        ),
    ]


LOGIN_RUNS = (
    ("login-storm", "load-test cost (INSECURE: 8 KiB, t=1, p=1)"),
    ("login-storm-production", "default cost (64 MiB, t=3, p=4)"),
    ("login-storm-production-2cores", "default cost, gateway on both cores (unpinned)"),
    ("login-storm-memory", "load-test cost, memory store instead of SQLite"),
)


def _login_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for label, cost in LOGIN_RUNS:
        result = r.get(label)
        if not result:
            continue
        logins = result["headline"]["logins_per_s"]
        a = result["argon2"]
        bound = (
            f"hash-cost bound 2 / t = {_fmt(a['bound_logins_per_s'], 1)} "
            f"(t = {a['hash_seconds'] * 1000:.3f} ms; 1 / t = "
            f"{_fmt(a['bound_logins_per_s_one_core'], 1)})"
        )
        name = f"full logins/s (password + TOTP), Argon2id {cost}"
        rows.append((name, _fmt(logins, 1), bound, _ratio(logins, a["bound_logins_per_s"])))
    totp = (r.get("login-storm") or {}).get("headline", {}).get("logins_per_s")
    for label, what in (
        ("dscplus-storm", "DSC+ card (challenge, 8-digit OCRA answer)"),
        ("ibkey-storm", "IB Key push (challenge, phone lists and approves, signed)"),
        ("passkey-storm", "passkey (challenge, WebAuthn assertion, ES256)"),
    ):
        result = r.get(label)
        if not result:
            continue
        logins = result["headline"]["logins_per_s"]
        rows.append(
            (
                f"full logins/s, {what}, load-test cost",
                _fmt(logins, 1),
                f"TOTP logins in the same run: {_fmt(totp, 1)}/s",
                _ratio(logins, totp),
            )
        )
    return rows


def _stuffing_rows(result: dict[str, Any] | None) -> list[Row]:
    if not result:
        return []
    h = result["headline"]
    q99, f99 = h["legit_quiet_p99_us"], h["legit_flood_p99_us"]
    q50, f50 = h["legit_quiet_p50_us"], h["legit_flood_p50_us"]
    flood = (
        f"a flood at {h['flood_multiple']:g}x capacity "
        f"({_fmt(h['flood_rate_per_s'])} wrong passwords/s offered)"
    )
    quiet = f"quiet: {_fmt(_ms(q99), 1)} ms, legit load {_fmt(h['legit_rate_per_s'], 1)} logins/s"
    answers = ", ".join(f"{k} {v:,}" for k, v in sorted(h["flood_answers"].items()))
    return [
        (f"legit full-login p99 (ms) under {flood}", _fmt(_ms(f99), 1), quiet, _ratio(f99, q99)),
        (
            "legit full-login p50 (ms) under the flood",
            _fmt(_ms(f50), 1),
            f"quiet: {_fmt(_ms(q50), 1)} ms",
            _ratio(f50, q50),
        ),
        (
            "flood answers (the flood's own phase)",
            answers or "-",
            f"answered {_fmt(h.get('flood_answered_per_s'))}/s; legit logins went on at "
            f"{_fmt(h.get('legit_flood_logins_per_s'), 1)}/s; capacity "
            f"{_fmt(h['capacity_logins_per_s'])} logins/s",
            "-",
        ),
    ]


def _churn_rows(result: dict[str, Any] | None) -> list[Row]:
    if not result:
        return []
    h = result["headline"]
    check = (
        f"{h['takeovers']:,} takeovers; the old session answered session_replaced "
        f"{h['replaced_sessions_answering_session_replaced']:,} times, otherwise "
        f"{h['replaced_sessions_answering_otherwise']:,}"
    )
    return [("takeover-churn: logins with takeover/s", _fmt(h["logins_per_s"], 1), check, "-")]


def _lockout_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for label, cost in (
        ("lockout-storm", "load-test cost"),
        ("lockout-storm-production", "default cost"),
    ):
        result = r.get(label)
        if not result:
            continue
        h = result["headline"]
        evaluated = ", ".join(str(v) for v in h["evaluated_per_user"].values())
        answers = ", ".join(f"{k} {v:,}" for k, v in sorted(h["answers"].items()))
        exact = "exact" if h["exactly_max_failures_evaluated"] else "NOT EXACT"
        rows.append(
            (
                f"lockout-storm ({cost}): evaluated attempts per user",
                evaluated,
                f"max_failures {h['max_failures']}; all answers: {answers}",
                exact,
            )
        )
    return rows


def _ms(micros: float | None) -> float | None:
    return None if micros is None else micros / 1000
