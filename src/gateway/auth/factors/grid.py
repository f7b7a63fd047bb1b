"""``scc``: the Security Code Card, a printed grid of 3-digit codes issued by
support (DESIGN.md, "Code grids"). The login asks for the codes at two
distinct random positions; the response is the two codes concatenated.

``card = {"columns": "ABCDEFGHIJ", "rows": 10, "codes": {"A1": "123", ...}}``
is the device's sealed secret. A challenge is good once and for
``CHALLENGE_SECONDS``. The online security card of the next issue uses the
same grid rules.

Rendering for print: ``card_html`` (a page) and ``card_png`` (an image drawn
here with a 5x7 bitmap font, no imaging library needed).
"""

from __future__ import annotations

import html
import re
import secrets
import struct
import zlib
from collections.abc import Sequence

import msgspec

import _fastcore
from gateway.auth.factors.base import FAILED, Challenge, Tier, Verification
from gateway.store.base import Device

COLUMNS = "ABCDEFGHIJ"
ROWS = 10
CODE_DIGITS = 3
CHALLENGE_SECONDS = 180.0
RESPONSE = re.compile(r"[0-9]{6}")


class Grid(msgspec.Struct, frozen=True):
    columns: str
    rows: int
    codes: dict[str, str]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Grid).decode


def new_grid() -> Grid:
    codes = {
        f"{column}{row}": f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        for row in range(1, ROWS + 1)
        for column in COLUMNS
    }
    return Grid(COLUMNS, ROWS, codes)


def seal_form(grid: Grid) -> bytes:
    return _encode(grid)


def grid_of(device: Device) -> Grid | None:
    try:
        return _decode(device.secret)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def answer(grid: Grid, positions: Sequence[str]) -> str:
    """What the card's holder types for ``positions``."""
    return "".join(grid.codes[p] for p in positions)


class CodeCard:
    """The ``scc`` factor."""

    method = "scc"
    tier = Tier(daily_limit=200_000, five_day_limit=600_000)
    max_challenges = 10

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        cells = [f"{column}{row}" for row in range(1, ROWS + 1) for column in COLUMNS]
        first = secrets.choice(cells)
        second = secrets.choice([c for c in cells if c != first])
        positions = (first, second)
        return Challenge(positions=positions, private=(positions, now + CHALLENGE_SECONDS))

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        return check_answer(grid_of(device) if device else None, response, now, challenge)


def check_answer(
    grid: Grid | None, response: str, now: float, challenge: Challenge | None
) -> Verification:
    """The two codes at the challenge's positions, typed in time (every grid
    card: the Security Code Card and the online security card)."""
    if grid is None or challenge is None or not isinstance(challenge.private, tuple):
        return FAILED
    positions, expires_at = challenge.private
    if now >= expires_at or RESPONSE.fullmatch(response) is None:
        return FAILED
    if any(p not in grid.codes for p in positions):
        return FAILED
    matched = _fastcore.ct_equal(answer(grid, positions), response)
    return Verification(ok=True) if matched else FAILED


# --- printing ------------------------------------------------------------------------


def card_html(grid: Grid, title: str) -> str:
    """A page to print: the grid as a table."""
    head = "".join(f"<th>{c}</th>" for c in grid.columns)
    body = "".join(
        f"<tr><th>{row}</th>"
        + "".join(f"<td>{grid.codes[f'{c}{row}']}</td>" for c in grid.columns)
        + "</tr>"
        for row in range(1, grid.rows + 1)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:monospace}table{border-collapse:collapse}"
        "td,th{border:1px solid #000;padding:4px 8px;text-align:center}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table><tr><th></th>{head}</tr>{body}</table>"
        "<p>Keep this card private. The login asks for the codes at two positions.</p>"
        "</body></html>"
    )


# 5x7 glyphs, one row of 5 bits per line, for the characters a card shows.
_FONT = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
}
_SCALE = 3
_CELL_W, _CELL_H = 4 * 6 * _SCALE, 11 * _SCALE


def card_png(grid: Grid) -> bytes:
    """The grid as a black-on-white PNG (8-bit greyscale)."""
    columns = len(grid.columns) + 1
    width, height = columns * _CELL_W, (grid.rows + 1) * _CELL_H
    pixels = [bytearray(b"\xff" * width) for _ in range(height)]

    def text(x: int, y: int, value: str) -> None:
        for index, char in enumerate(value):
            rows = _FONT.get(char, _FONT[" "]).split()
            for gy, bits in enumerate(rows):
                for gx, bit in enumerate(bits):
                    if bit == "1":
                        for dy in range(_SCALE):
                            line = pixels[y + (gy * _SCALE) + dy]
                            start = x + (index * 6 + gx) * _SCALE
                            line[start : start + _SCALE] = b"\x00" * _SCALE

    pad = 2 * _SCALE
    for i, column in enumerate(grid.columns, start=1):
        text(i * _CELL_W + pad, pad, column)
    for row in range(1, grid.rows + 1):
        text(pad, row * _CELL_H + pad, str(row))
        for i, column in enumerate(grid.columns, start=1):
            text(i * _CELL_W + pad, row * _CELL_H + pad, grid.codes[f"{column}{row}"])
    for rule in range(grid.rows + 2):  # grid lines
        y = min(rule * _CELL_H, height - 1)
        pixels[y][:] = b"\x00" * width
    for edge in range(columns + 1):
        x = min(edge * _CELL_W, width - 1)
        for line in pixels:
            line[x] = 0
    raw = b"".join(b"\x00" + bytes(line) for line in pixels)
    return _png(width, height, raw)


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
