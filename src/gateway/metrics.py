"""Prometheus metrics in the text exposition format (version 0.0.4).

Hand-rolled rather than ``prometheus-client``: the hot path only adds to a
plain dict (a few tens of nanoseconds, no lock: everything runs on the one
event loop), where ``Counter.labels(...).inc()`` costs a label lookup and a
mutex per call; the text is built only when scraped. Gauges that other parts
of the gateway already know (active sessions, open connections) are read at
scrape time through callbacks.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence

Labels = tuple[tuple[str, str], ...]

# Seconds; upstream answers on loopback take tens of microseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _simple(
    name: str,
    help: str,
    kind: str,
    label_names: tuple[str, ...],
    values: dict[tuple[str, ...], float],
) -> Iterable[str]:
    """A counter's or gauge's lines: HELP, TYPE, one sample per label set."""
    yield f"# HELP {name} {help}"
    yield f"# TYPE {name} {kind}"
    for label_values, value in sorted(values.items()):
        labels = _labels(tuple(zip(label_names, label_values, strict=True)))
        yield f"{name}{labels} {_number(value)}"


class Counter:
    def __init__(self, name: str, help: str, label_names: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(label_names)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self.values[label_values] = self.values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        return self.values.get(label_values, 0.0)

    def render(self) -> Iterable[str]:
        return _simple(self.name, self.help, "counter", self.label_names, self.values)


class Gauge:
    """A value read when scraped: ``read()`` returns ``{label values: value}``."""

    def __init__(
        self,
        name: str,
        help: str,
        label_names: Sequence[str],
        read: Callable[[], dict[tuple[str, ...], float]],
    ) -> None:
        self.name, self.help, self.label_names, self.read = name, help, tuple(label_names), read

    def render(self) -> Iterable[str]:
        return _simple(self.name, self.help, "gauge", self.label_names, self.read())


class Histogram:
    def __init__(
        self,
        name: str,
        help: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.help, self.label_names = name, help, tuple(label_names)
        self.bounds = tuple(sorted(buckets))
        # per label values: [count per bucket (non-cumulative) ..., +Inf], sum
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *label_values: str) -> None:
        series = self.series.get(label_values)
        if series is None:
            series = self.series[label_values] = ([0] * (len(self.bounds) + 1), [0.0])
        series[0][bisect.bisect_left(self.bounds, value)] += 1
        series[1][0] += value

    def count(self, *label_values: str) -> int:
        series = self.series.get(label_values)
        return sum(series[0]) if series else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for values, (counts, total) in sorted(self.series.items()):
            labels = tuple(zip(self.label_names, values, strict=True))
            running = 0
            for bound, count in zip((*self.bounds, math.inf), counts, strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(labels, le)} {running}"
            yield f"{self.name}_sum{_labels(labels)} {_number(total[0])}"
            yield f"{self.name}_count{_labels(labels)} {running}"


class Metrics:
    """Every metric of the gateway (the names are its public contract)."""

    def __init__(self) -> None:
        self.logins = Counter(
            "gateway_logins_total", "Login steps by result and method.", ("result", "method")
        )
        self.lockouts = Counter("gateway_lockouts_total", "Users locked after too many failures.")
        self.rate_limited = Counter(
            "gateway_rate_limited_total", "Requests refused by a token bucket.", ("bucket",)
        )
        self.forward_auth = Counter(
            "gateway_forward_auth_total", "Forward-auth decisions.", ("decision",)
        )
        self.login_admitted = Counter(
            "gateway_login_admitted_total",
            "Login requests let through to the control plane, by lane.",
            ("lane",),
        )
        self.proxy_requests = Counter(
            "gateway_proxy_requests_total",
            "Proxied requests by route and status class.",
            ("route", "status"),
        )
        self.proxy_latency = Histogram(
            "gateway_proxy_latency_seconds",
            "Time from a proxied request's head to the end of its answer.",
            ("route",),
        )
        self.upstream_errors = Counter(
            "gateway_upstream_errors_total",
            "Upstream failures by route and kind.",
            ("route", "kind"),
        )
        self.security_events = Counter(
            "gateway_security_events_total", "Audit events by kind.", ("event",)
        )
        self._gauges: list[Gauge] = []

    def gauge(
        self,
        name: str,
        help: str,
        label_names: Sequence[str],
        read: Callable[[], dict[tuple[str, ...], float]],
    ) -> None:
        self._gauges.append(Gauge(name, help, label_names, read))

    def render(self) -> bytes:
        lines: list[str] = []
        metrics: list[Counter | Histogram | Gauge] = [
            self.logins,
            self.lockouts,
            self.rate_limited,
            self.forward_auth,
            self.login_admitted,
            self.proxy_requests,
            self.proxy_latency,
            self.upstream_errors,
            self.security_events,
            *self._gauges,
        ]
        for metric in metrics:
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
