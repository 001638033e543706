"""Many processes logging in distinct users on one SQLite file: no StoreError (issue 14 part 5).

The measurement with 16 processes x 200 logins is ``benchmarks/sqlite_contention.py``
(``docs/storage.md``); this is its correctness check, small enough for CI. No time is asserted.
"""

from __future__ import annotations

from pathlib import Path

from service_support import enrol_contention_users, sqlite_contention

PROCESSES = 16
LOGINS = 30


def test_sixteen_processes_on_one_file(tmp_path: Path) -> None:
    """16 processes x 30 logins of distinct users: every login accepted, none a StoreError."""
    enrol_contention_users(tmp_path / "mfa.sqlite3", PROCESSES, LOGINS)
    measured = sqlite_contention(tmp_path / "mfa.sqlite3", PROCESSES, LOGINS)
    assert measured.logins == PROCESSES * LOGINS
    assert measured.outcomes == {"accepted": PROCESSES * LOGINS}
