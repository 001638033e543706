"""The README's examples run as written (doctest)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    path
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if ">>> " in path.read_text(encoding="utf-8")
]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_examples(path: Path) -> None:
    """Every `>>>` example in the document produces the output shown."""
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
