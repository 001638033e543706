"""SQLite under contention: processes logging in distinct users on one database file (issue 14 part 5).

Usage: python benchmarks/sqlite_contention.py [--processes 16] [--logins 200] [--runs 3]

Each process opens its own SQLiteStore and MfaService (defaults: ``timeout=10``,
``synchronous=FULL``, WAL) and, released together with the others, logs in its own
users once each with a valid app code: per login, one claim transaction and one
replay-guard UPDATE, both committed. Enrolment happens once, off the clock; each run
starts from a copy of the enrolled database. Prints, per run: logins per second (first
start to last finish, all processes), the StoreErrors, and the median, 99th-percentile
and worst latency of one login. ``docs/storage.md`` records the figures;
``tests/test_sqlite_contention.py`` checks the same run, smaller.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sqlite3
import tempfile
from pathlib import Path

import harness  # noqa: F401 - puts tests/ on sys.path
from service_support import enrol_contention_users, sqlite_contention


def main() -> None:
    """Run and print each run's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--logins", type=int, default=200, help="per process, each of a distinct user")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {args.processes} processes x "
        f"{args.logins} logins of distinct users"
    )
    with tempfile.TemporaryDirectory() as root:
        enrolled, database = Path(root) / "enrolled.sqlite3", Path(root) / "mfa.sqlite3"
        enrol_contention_users(enrolled, args.processes, args.logins)
        for run in range(1, args.runs + 1):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(enrolled, database)  # closed cleanly: the WAL is checkpointed into it
            measured = sqlite_contention(database, args.processes, args.logins)
            median, p99, worst = (measured.percentile(share) * 1e3 for share in (0.5, 0.99, 1.0))
            print(
                f"run {run}: {measured.throughput:5.0f} logins/s  StoreErrors {measured.store_errors}  "
                f"outcomes {measured.outcomes}  latency median {median:.0f} ms, p99 {p99:.0f} ms, "
                f"worst {worst:.0f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
