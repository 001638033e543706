"""Helpers shared by the test modules."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"


def load_vectors(name: str) -> list[dict[str, str]]:
    """Parse ``tests/vectors/<name>``: ``KEY = value`` lines, ``COUNT`` opens a record.

    Deliberately independent of ``totpcore._selftest``, which is itself under test.
    """
    records: list[dict[str, str]] = []
    for line in (VECTORS / name).read_text(encoding="ascii").splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            if key == "COUNT":
                records.append({})
            records[-1][key] = value
    return records
