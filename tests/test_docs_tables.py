"""Numbers printed in the docs are recomputed here from their formulas."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_guess_probability_table() -> None:
    """Every cell of verification.md's table is window_size * attempts / 10**6 (RFC 4226 §6)."""
    text = (DOCS / "verification.md").read_text(encoding="utf-8")
    header = re.search(r"^\| window size \\ attempts \|(.+)\|$", text, re.MULTILINE)
    assert header is not None
    attempts = [int(cell) for cell in header.group(1).split("|")]
    rows = re.findall(r"^\| (\d+) \(`Window\((\d+), (\d+)\)`[^|]*\|(.+)\|$", text, re.MULTILINE)
    assert len(rows) == 5
    for size, past, future, cells in rows:
        assert int(size) == int(past) + 1 + int(future)
        printed = [cell.strip() for cell in cells.split("|")]
        assert printed == [f"{int(size) * a / 10**6:.1e}" for a in attempts]


def test_resync_false_accept_figure() -> None:
    """The 5.8e-9 quoted for the default resync search is (2 * 2880 + 1) / 10**12."""
    assert f"{(2 * 2880 + 1) / 10**12:.1e}" == "5.8e-09"
    assert "5.8e-9" in (DOCS / "verification.md").read_text(encoding="utf-8")
