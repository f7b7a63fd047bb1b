"""Run the core microbenchmarks and print the summary table.

python -m bench.micro [--out DIR] [extra pytest args]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from bench.micro.report import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args, extra = parser.parse_known_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "micro.json"
    # Long rounds keep the timer's own overhead out of sub-microsecond figures.
    code = pytest.main(
        [
            str(Path(__file__).parent),
            "-q",
            "-p",
            "no:cacheprovider",
            "--benchmark-min-time=0.002",
            "--benchmark-columns=mean,stddev,ops,rounds",
            f"--benchmark-json={json_path}",
            *extra,
        ]
    )
    if code != 0:
        return int(code)
    table = render(json_path)
    (args.out / "micro.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
