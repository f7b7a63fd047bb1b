"""python -m bench.load: the load generator.

    python -m bench.load run SCENARIO [--target URL] [--duration S] [--users N] [--out DIR]
    python -m bench.load baseline [--duration S]     bare Hypercorn-Trio app, nginx, wrk
    python -m bench.load suite [--duration S]        baselines + every scenario + load.md
    python -m bench.load edge [--rounds N]           the data plane against its baselines
    python -m bench.load report [--out DIR]          load.md from the JSON files in DIR
    python -m bench.load list                        the scenarios

See bench/README.md ("Load").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.load.run import DEFAULT_DURATION, DEFAULT_MAX_REQUESTS, DEFAULT_OUT, RunSpec
from bench.load.scenarios import SCENARIOS
from bench.load.servers import ARGON2_PROFILES
from bench.load.stats import BoundsError
from bench.load.target import TargetError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run one scenario")
    run.add_argument("scenario", choices=sorted(SCENARIOS))
    run.add_argument(
        "--target", help="public URL of a running gateway (loopback only); default: start one"
    )
    run.add_argument("--admin-url", help="its admin URL (with --target)")
    run.add_argument(
        "--admin-token",
        default=os.environ.get("GATEWAY_ADMIN_TOKEN"),
        help="default: $GATEWAY_ADMIN_TOKEN",
    )
    run.add_argument(
        "--argon2",
        choices=ARGON2_PROFILES,
        help=(
            "Argon2id cost of the started gateway (default: insecure-load-test); "
            "with --target, the cost the target runs (for the hash-cost bound)"
        ),
    )
    run.add_argument(
        "--store",
        choices=("sqlite", "memory"),
        help="store of the started gateway (default: its default, sqlite)",
    )
    run.add_argument(
        "--max-failures",
        type=int,
        default=10,
        help="the target's lockout.max_failures (lockout-storm)",
    )
    run.add_argument("--mix", help="session-traffic: endpoint weights, e.g. session=9,tickle=1")
    run.add_argument(
        "--flood-multiple",
        type=float,
        help="credential-stuffing: flood rate / capacity (4); recovery-flood: / allowed rate (10)",
    )
    run.add_argument(
        "--legit-fraction", type=float, help="credential-stuffing: legit rate / capacity (0.25)"
    )
    run.add_argument(
        "--flood-usernames", type=int, help="credential-stuffing: guessed usernames (2000)"
    )
    run.add_argument(
        "--flood-ips",
        type=int,
        help="credential-stuffing: loopback source addresses (16); recovery-flood: (64)",
    )
    run.add_argument(
        "--flood-connections", type=int, help="credential-stuffing: flood connections (256)"
    )
    run.add_argument(
        "--single-rate",
        type=float,
        help="credential-stuffing: the one-address flood's attempts/s (5, the per-IP rate)",
    )
    _common(run)

    baseline = commands.add_parser("baseline", help="bare Hypercorn-Trio app, nginx and wrk")
    _common(baseline)

    suite = commands.add_parser("suite", help="baselines and every scenario, then load.md")
    suite.add_argument("--duration", type=float, default=DEFAULT_DURATION)
    suite.add_argument("--out", type=Path, default=DEFAULT_OUT)
    suite.add_argument("--no-pin", action="store_true")
    suite.add_argument("--quiet", action="store_true", help="no progress lines")
    suite.add_argument(
        "--edge-only", action="store_true", help="baselines and the data-plane scenarios only"
    )

    summary = commands.add_parser(
        "report", help="load.md, and each run's table and plot, from the JSON files of --out"
    )
    summary.add_argument("--out", type=Path, default=DEFAULT_OUT)
    edge = commands.add_parser(
        "edge", help="the data plane against its baselines, interleaved in rounds"
    )
    edge.add_argument("--rounds", type=int, default=3)
    edge.add_argument("--duration", type=float, default=6.0, help="seconds per run")
    edge.add_argument("--out", type=Path, default=DEFAULT_OUT)
    edge.add_argument("--no-pin", action="store_true")
    edge.add_argument("--quiet", action="store_true", help="no progress lines")
    commands.add_parser("list", help="the scenarios")
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds (bound)")
    parser.add_argument(
        "--max-requests", type=int, default=DEFAULT_MAX_REQUESTS, help="request count (bound)"
    )
    parser.add_argument("--users", type=int)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--label", help="output file name (default: the scenario)")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin server and generator to their own cores"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (TargetError, BoundsError, ValueError) as exc:
        print(f"bench.load: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        for name, scenario in SCENARIOS.items():
            print(f"{name:20} {scenario.description}")
        return 0
    if args.command == "report":
        from bench.load.report import redraw
        from bench.load.suite import summarize

        redraw(args.out)
        table = summarize(args.out)
        (args.out / "load.md").write_text(table)
        print(table)
        return 0
    if args.command == "edge":
        from bench.load.edge import run_edge

        if not 1 <= args.rounds <= 20:
            raise ValueError("--rounds is 1 to 20")
        print(run_edge(args.rounds, args.duration, args.out, not args.no_pin, not args.quiet))
        return 0
    if args.command == "suite":
        from bench.load.suite import run_suite

        print(
            run_suite(
                args.duration,
                args.out,
                pin=not args.no_pin,
                progress=not args.quiet,
                edge_only=args.edge_only,
            )
        )
        return 0
    if args.command == "baseline":
        from bench.load.baseline import run_baselines

        for result in run_baselines(
            args.duration, args.connections, args.out, not args.no_pin, not args.quiet
        ):
            print(f"{result['label']}: {result['headline']}")
        return 0
    from bench.load.run import run

    extra = {
        key: getattr(args, key)
        for key in (
            "mix",
            "flood_multiple",
            "legit_fraction",
            "flood_usernames",
            "flood_ips",
            "flood_connections",
            "single_rate",
        )
        if getattr(args, key) is not None
    }
    argon2 = args.argon2 if args.argon2 or args.target else "insecure-load-test"
    spec = RunSpec(
        args.scenario,
        duration=args.duration,
        max_requests=args.max_requests,
        users=args.users,
        connections=args.connections,
        target=args.target,
        admin_url=args.admin_url,
        admin_token=args.admin_token,
        argon2=argon2,
        label=args.label,
        out=args.out,
        pin=not args.no_pin,
        progress=not args.quiet,
        max_failures=args.max_failures,
        store=args.store,
        extra=extra,
    )
    result = run(spec)
    print((args.out / f"{result['label']}.md").read_text())
    print("wrote " + ", ".join(result["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
