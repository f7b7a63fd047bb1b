"""A run's outputs: ``LABEL.json`` (everything), ``LABEL.md`` (a table) and
``LABEL.png`` (latency plot: throughput and p50/p99 second by second, and
the percentile distribution of each operation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.load.histogram import REPORTED_PERCENTILES, LatencyHistogram


def write_outputs(result: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    label = result["label"]
    json_path = out / f"{label}.json"
    json_path.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    md_path = out / f"{label}.md"
    md_path.write_text(render_markdown(result))
    png_path = out / f"{label}.png"
    plot_latency(result, png_path)
    return [json_path, md_path, png_path]


def redraw(out: Path) -> list[Path]:
    """Write every run's Markdown table and plot again from its JSON file."""
    written = []
    for json_path in sorted(out.glob("*.json")):
        result = json.loads(json_path.read_text())
        if "ops" not in result or "series" not in result:
            continue  # wrk's file, or not ours
        md_path, png_path = json_path.with_suffix(".md"), json_path.with_suffix(".png")
        md_path.write_text(render_markdown(result))
        plot_latency(result, png_path)
        written += [md_path, png_path]
    return written


def _ms(micros: float | None) -> str:
    return "-" if micros is None else f"{micros / 1000:,.2f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_markdown(result: dict[str, Any]) -> str:
    bounds = result["bounds"]
    lines = [
        f"## {result['label']} ({result['scenario']})",
        "",
        result["description"],
        "",
        f"Target: {result['target']['url']} ({result['target']['server']}"
        + (f", Argon2id {result['target']['argon2']}" if result["target"].get("argon2") else "")
        + f"). Ran {result['seconds']:.1f} s of {bounds['duration_s']:g} s, "
        f"{result['requests']:,} of at most {bounds['max_requests']:,} requests "
        f"(stopped by {bounds['stopped_by']}), {bounds['users']} users, "
        f"{bounds['connections']} connections. {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores.",
        "",
        "| operation | requests | per s | ok | "
        + " | ".join(f"p{p:g} ms" for p in REPORTED_PERCENTILES)
        + " | max ms | errors |",
        "|---|---:|---:|---:|" + "---:|" * len(REPORTED_PERCENTILES) + "---:|---|",
    ]
    for name, op in result["ops"].items():
        if not op["requests"]:
            continue
        latency = op["latency_us"]
        errors = ", ".join(f"{k} {v:,}" for k, v in op["errors"].items()) or "-"
        lines.append(
            f"| {name} | {op['requests']:,} | {_num(op['rate_per_s'])} | {op['ok']:,} | "
            + " | ".join(_ms(latency["percentiles"][f"p{p:g}"]) for p in REPORTED_PERCENTILES)
            + f" | {_ms(latency['max'])} | {errors} |"
        )
    headline = result.get("headline") or {}
    if headline:
        lines += ["", "| figure | value |", "|---|---|"]
        for key, value in headline.items():
            lines.append(f"| {key} | {_value(value)} |")
    argon2 = result.get("argon2")
    if argon2:
        lines += [
            "",
            f"Argon2id at this cost (m={argon2['memory_cost_kib']} KiB, t={argon2['iterations']}, "
            f"p={argon2['lanes']}): {argon2['hash_seconds'] * 1000:.3f} ms per hash; "
            f"bound 2 / t = {argon2['bound_logins_per_s']:,.1f} logins/s.",
        ]
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) or "-"
    return str(value)


def plot_latency(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rates, percentiles, spectrum) = plt.subplots(3, 1, figsize=(13, 12))
    colours = plt.get_cmap("tab20").colors
    for axes in (rates, percentiles, spectrum):
        axes.set_prop_cycle(color=colours)
    figure.suptitle(
        f"{result['label']}: {result['target']['server']} on {result['machine']['cpu']}"
    )
    series = result["series"]
    names = [name for name, op in result["ops"].items() if op["requests"]]
    previous = 0.0
    times: list[float] = []
    widths: list[float] = []
    for point in series:
        times.append(point["t"])
        widths.append(max(point["t"] - previous, 1e-3))
        previous = point["t"]
    # The last, partial second only holds the answers in flight at the end.
    whole = [i for i, w in enumerate(widths) if w >= 0.5]
    times = [times[i] for i in whole]
    for name in names:
        points = [series[i]["ops"].get(name, {}) for i in whole]
        counts = [p.get("count", 0) for p in points]
        rates.plot(times, [c / widths[i] for c, i in zip(counts, whole, strict=True)], label=name)
        p50 = [_ms_or_nan(p.get("p50_us")) for p in points]
        p99 = [_ms_or_nan(p.get("p99_us")) for p in points]
        (line,) = percentiles.plot(times, p99, label=f"{name} p99")
        percentiles.plot(times, p50, linestyle="--", color=line.get_color(), label=f"{name} p50")
        histogram = LatencyHistogram.from_json(result["ops"][name]["latency_us"])
        xs, ys = _spectrum(histogram)
        spectrum.plot(xs, ys, label=name, drawstyle="steps-post")
    rates.set(title="throughput", xlabel="seconds", ylabel="requests/s")
    percentiles.set(title="latency each second (p99 solid, p50 dashed)", xlabel="seconds")
    percentiles.set_ylabel("ms")
    percentiles.set_yscale("log")
    spectrum.set(title="latency by percentile", ylabel="ms")
    spectrum.set_xscale("logit")
    spectrum.set_yscale("log")
    spectrum.set_xlabel("percentile")
    for axes in (rates, percentiles, spectrum):
        axes.grid(True, which="both", alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _ms_or_nan(micros: int | None) -> float:
    return float("nan") if micros is None else micros / 1000


def _spectrum(histogram: LatencyHistogram) -> tuple[list[float], list[float]]:
    """Fraction of samples at or below each bucket from the median up, and
    the bucket's top in ms (fractions capped at 0.99999 for the logit axis)."""
    median = histogram.percentile(50)
    if median is None:
        return [], []
    xs: list[float] = [0.5]
    ys: list[float] = [median / 1000]
    seen = 0
    total = histogram.count
    for _, high, n in histogram.buckets():
        seen += n
        fraction = seen / total
        if fraction > 0.5:
            xs.append(min(fraction, 0.99999))
            ys.append(min(high, histogram.max or high) / 1000)
    return xs, ys
