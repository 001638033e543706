"""docs/conformance.md cites only test functions and code that exist (read with ast, never imported)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "docs" / "conformance.md"

#: A backticked span that names something under tests/ or src/.
CITATION = re.compile(r"`((?:tests|src)/[^`]*)`")
#: tests/<file>.py::test_x or tests/<file>.py::TestX::test_x, without parametrize ids.
TEST_REFERENCE = re.compile(r"tests/(?:\w+/)*test_\w+\.py::(?:Test\w+::)?test_\w+")
#: src/totpcore/<file>.py::name or ::Class.member.
CODE_REFERENCE = re.compile(r"src/totpcore/(?:\w+/)*\w+\.py::\w+(?:\.\w+)?")
#: A whole file, named in prose.
FILE_REFERENCE = re.compile(r"(?:tests|src)/(?:\w+/)*\w+\.py")
#: The header of every traceability table.
MATRIX_HEADER = ["ID", "Requirement", "Status", "Code", "Tests"]

#: Every requirement ID of the matrix, plus the RFC clauses it does not number.
REQUIRED_ROWS = (
    *(f"ALG-{n}" for n in range(1, 8)),
    *(f"SEC-{n}" for n in range(1, 6)),
    *(f"VER-{n}" for n in range(1, 12)),
    *(f"RL-{n}" for n in range(1, 8)),
    *(f"RC-{n}" for n in range(1, 10)),
    *(f"URI-{n}" for n in range(1, 3)),
    *(f"LC-{n}" for n in range(1, 6)),
    "RFC4226-R1",
    "RFC4226-R5",
    "RFC4226-7.2",
    "RFC4226-7.4",
    "RFC4226-E.3",
    "RFC6238-R1",
    "RFC6238-R2",
    "VECTORS",
)
#: Floors that a truncated or emptied matrix falls below.
MIN_TEST_REFERENCES = 180
MIN_DISTINCT_TESTS = 150
MIN_CODE_REFERENCES = 100


def citations() -> list[str]:
    """Every backticked tests/... or src/... span of the matrix, in order."""
    return CITATION.findall(MATRIX.read_text(encoding="utf-8"))


def cited_tests() -> list[str]:
    """The citations that name a test."""
    return [cited for cited in citations() if TEST_REFERENCE.fullmatch(cited)]


def cited_code() -> list[str]:
    """The citations that name code."""
    return [cited for cited in citations() if CODE_REFERENCE.fullmatch(cited)]


@cache
def defined(relative: str) -> frozenset[str]:
    """Names a file defines: top-level functions, classes and constants, and ``Class.member``."""
    tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        names.update(_bound(node))
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{member}" for child in node.body for member in _bound(child))
    return frozenset(names)


def _bound(node: ast.stmt) -> list[str]:
    """The names one statement binds: a def, a class, or a plain or annotated assignment."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def is_test(reference: str) -> bool:
    """Whether *reference* names a ``def test_*`` in that file (inside that class, if one is named)."""
    path, *parts = reference.split("::")
    if not parts or not (ROOT / path).is_file() or not parts[-1].startswith("test_"):
        return False
    return ".".join(parts) in defined(path)


def is_code(reference: str) -> bool:
    """Whether *reference* names a function, class, constant or class member of that file."""
    path, _, name = reference.partition("::")
    return (ROOT / path).is_file() and name in defined(path)


def matrix_rows() -> list[list[str]]:
    """The cells of every data row of every table whose header is MATRIX_HEADER."""
    rows: list[list[str]] = []
    inside = False
    for line in MATRIX.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            inside = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if cells == MATRIX_HEADER:
            inside = True
        elif inside and not set(line) <= set("| -"):
            rows.append(cells)
    return rows


def test_every_citation_is_well_formed() -> None:
    """Each cited span is exactly a test, code or file reference: no parametrize ids, no typos."""
    patterns = (TEST_REFERENCE, CODE_REFERENCE, FILE_REFERENCE)
    malformed = [cited for cited in citations() if not any(p.fullmatch(cited) for p in patterns)]
    assert malformed == []


def test_every_cited_file_exists() -> None:
    """Each file named by a citation is in the repository."""
    files = {cited.partition("::")[0] for cited in citations()}
    assert sorted(path for path in files if not (ROOT / path).is_file()) == []


def test_every_cited_test_exists() -> None:
    """Each test reference names a `def test_*` in that file and class."""
    missing = [reference for reference in cited_tests() if not is_test(reference)]
    assert missing == []


def test_every_cited_name_exists() -> None:
    """Each code reference names a function, class, constant or member defined in that file."""
    missing = [reference for reference in cited_code() if not is_code(reference)]
    assert missing == []


def test_the_matrix_is_complete() -> None:
    """Every requirement has a row, and every row cites code and at least one test."""
    rows = {cells[0]: cells for cells in matrix_rows()}
    assert sorted(set(REQUIRED_ROWS) - set(rows)) == []
    for requirement, cells in rows.items():
        assert len(cells) == len(MATRIX_HEADER), requirement
        assert CODE_REFERENCE.search(cells[3]), requirement
        assert TEST_REFERENCE.search(cells[4]), requirement


def test_the_matrix_is_not_truncated() -> None:
    """The matrix keeps at least as many references as when it was written."""
    tests = cited_tests()
    assert len(tests) >= MIN_TEST_REFERENCES
    assert len(set(tests)) >= MIN_DISTINCT_TESTS
    assert len(cited_code()) >= MIN_CODE_REFERENCES


def test_the_checks_can_fail() -> None:
    """Made-up, misplaced or non-test names are rejected, so a passing run means something."""
    assert is_test("tests/test_verify.py::TestReplay::test_same_code_same_step")
    assert is_test("tests/test_verify.py::test_replay_monotonicity")
    assert not is_test("tests/test_verify.py::TestReplay::test_no_such_test")
    assert not is_test("tests/test_verify.py::TestNoSuchClass::test_same_code_same_step")
    assert not is_test("tests/test_verify.py::TestWindow::test_same_code_same_step")  # wrong class
    assert not is_test("tests/test_verify.py::test_same_code_same_step")  # a method, not a function
    assert not is_test("tests/test_verify.py::oracle")  # a helper, not a test
    assert not is_test("tests/test_no_such_file.py::test_x")
    assert is_code("src/totpcore/verify.py::Window.lifetime")
    assert is_code("src/totpcore/totp.py::MAX_PERIOD")
    assert not is_code("src/totpcore/verify.py::Window.no_such_member")
    assert not is_code("src/totpcore/no_such_module.py::Window")
    assert not TEST_REFERENCE.fullmatch("tests/test_verify.py::TestWindow::test_lifetime[window0-30-30]")
