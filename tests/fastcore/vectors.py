"""Readers for the published RFC vector tables (copies in ./rfc, see its README)."""

import csv
import os
from pathlib import Path

VECTORS = Path(os.environ.get("GATEWAY_VECTORS", Path(__file__).resolve().parent / "rfc"))


def rows(name: str) -> list[dict[str, str]]:
    path = VECTORS / name
    with path.open() as handle:
        lines = [line for line in handle if not line.startswith("#")]
    table = list(csv.DictReader(lines, delimiter="\t"))
    assert table, f"no vectors in {path}"
    return table
