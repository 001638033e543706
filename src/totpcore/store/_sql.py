"""The SQL that SQLiteStore and PostgresStore share, and the two dialects' differences.

Every statement is written once, with ``:name`` placeholders (sqlite3's style); the
PostgreSQL dialect rewrites them to psycopg's ``%(name)s``. Only the table definitions,
the upgrade from schema version 1, the transaction opener, the row lock and the
representation of ``last_step`` differ. Nothing relies on session state (no ``SET``,
no prepared statements, no session advisory locks), so PostgreSQL can sit behind
PgBouncer in transaction pooling mode.
``docs/storage.md`` quotes this file for DBAs, and a test keeps the two in step.

Lock order: every transaction that writes more than one row touches the user's row in
``totpcore_users`` first and the rows of ``totpcore_recovery`` after it, so two
transactions on one user queue up behind the user row instead of deadlocking.

Every write that follows a claim names the ``enrollment_id`` that was claimed: after a
support reset and a new enrolment, a write meant for the old enrolment matches no row.

``last_step`` can reach 2**64 - 1 (RFC 4226 §5.2: an 8-byte counter), beyond the signed
64-bit integers of both databases: PostgreSQL stores it as ``NUMERIC(20, 0)``, SQLite as
20 zero-padded decimal digits in ``TEXT``, whose byte order is the numeric order. Either
way the comparison ``last_step < :step`` happens inside the database.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from totpcore.store.base import Status

__all__ = ["POSTGRES", "SQLITE", "STEP_MAX", "Dialect", "Row"]

#: The largest value of last_step: RFC 4226 §5.2 counters are 8 bytes.
STEP_MAX: Final = (1 << 64) - 1

#: A statement's result rows, as the database drivers return them.
Row = tuple[Any, ...]

PENDING: Final = Status.PENDING.value
ENABLED: Final = Status.ENABLED.value
LOCKED: Final = Status.LOCKED.value

# ------------------------------------------------------------------ schema

SQLITE_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS totpcore_schema (
    version     INTEGER PRIMARY KEY,
    applied_at  TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
)""",
    """CREATE TABLE IF NOT EXISTS totpcore_users (
    user_id          TEXT    PRIMARY KEY,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'enabled', 'locked')),
    enrollment_id    TEXT    NOT NULL,
    sealed_secret    BLOB    NOT NULL,
    key_id           TEXT    NOT NULL,
    digits           INTEGER NOT NULL,
    period           INTEGER NOT NULL,
    algorithm        TEXT    NOT NULL,
    last_step        TEXT    CHECK (length(last_step) = 20 AND last_step NOT GLOB '*[^0-9]*'),
    drift            INTEGER NOT NULL,
    failures         INTEGER NOT NULL CHECK (failures >= 0),
    next_attempt_at  REAL    NOT NULL,
    recovery_params  TEXT,
    created_at       REAL    NOT NULL,
    updated_at       REAL    NOT NULL,
    enabled_at       REAL
)""",
    "CREATE INDEX IF NOT EXISTS totpcore_users_key_id ON totpcore_users (key_id)",
    """CREATE TABLE IF NOT EXISTS totpcore_recovery (
    user_id  TEXT    NOT NULL REFERENCES totpcore_users (user_id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL CHECK (idx >= 0),
    digest   BLOB    NOT NULL,
    PRIMARY KEY (user_id, idx)
)""",
)

POSTGRES_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS totpcore_schema (
    version     INTEGER     PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)""",
    """CREATE TABLE IF NOT EXISTS totpcore_users (
    user_id          TEXT             PRIMARY KEY,
    status           TEXT             NOT NULL CHECK (status IN ('pending', 'enabled', 'locked')),
    enrollment_id    TEXT             NOT NULL,
    sealed_secret    BYTEA            NOT NULL,
    key_id           TEXT             NOT NULL,
    digits           INTEGER          NOT NULL,
    period           INTEGER          NOT NULL,
    algorithm        TEXT             NOT NULL,
    last_step        NUMERIC(20, 0)   CHECK (last_step BETWEEN 0 AND 18446744073709551615),
    drift            INTEGER          NOT NULL,
    failures         INTEGER          NOT NULL CHECK (failures >= 0),
    next_attempt_at  DOUBLE PRECISION NOT NULL,
    recovery_params  TEXT,
    created_at       DOUBLE PRECISION NOT NULL,
    updated_at       DOUBLE PRECISION NOT NULL,
    enabled_at       DOUBLE PRECISION
)""",
    "CREATE INDEX IF NOT EXISTS totpcore_users_key_id ON totpcore_users (key_id)",
    """CREATE TABLE IF NOT EXISTS totpcore_recovery (
    user_id  TEXT    NOT NULL REFERENCES totpcore_users (user_id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL CHECK (idx >= 0),
    digest   BYTEA   NOT NULL,
    PRIMARY KEY (user_id, idx)
)""",
)

#: Upgrade of a version-1 database: each existing enrolment gets a random id.
SQLITE_UPGRADE_2: Final = (
    "ALTER TABLE totpcore_users ADD COLUMN enrollment_id TEXT NOT NULL DEFAULT ''",
    "UPDATE totpcore_users SET enrollment_id = lower(hex(randomblob(16))) WHERE enrollment_id = ''",
)
POSTGRES_UPGRADE_2: Final = (
    "ALTER TABLE totpcore_users ADD COLUMN enrollment_id TEXT NOT NULL DEFAULT ''",
    (
        "UPDATE totpcore_users SET enrollment_id = replace(CAST(gen_random_uuid() AS TEXT), '-', '') "
        "WHERE enrollment_id = ''"
    ),
    "ALTER TABLE totpcore_users ALTER COLUMN enrollment_id DROP DEFAULT",
)

#: Serialises concurrent create_schema() calls from many app servers (PostgreSQL only:
#: SQLite's BEGIN IMMEDIATE already does). A transaction-scoped lock, so it is safe
#: behind PgBouncer. The key spells "totp" in ASCII.
POSTGRES_SCHEMA_LOCK: Final = "SELECT pg_advisory_xact_lock(1953461360)"

#: Opens every PostgreSQL transaction. The replay guard relies on READ COMMITTED
#: re-checking a WHERE clause after a row-lock wait; naming the level here, rather than
#: setting it for the session, keeps working behind a transaction-pooling PgBouncer.
POSTGRES_BEGIN: Final = "BEGIN ISOLATION LEVEL READ COMMITTED"

#: Run on every new SQLite connection, after switching the file to WAL mode once
#: (``PRAGMA journal_mode = WAL``, persistent).
SQLITE_PRAGMAS: Final = ("PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON")

RECORD_VERSION: Final = (
    "INSERT INTO totpcore_schema (version) VALUES (:version) ON CONFLICT (version) DO NOTHING"
)
SCHEMA_VERSION_NOW: Final = "SELECT MAX(version) FROM totpcore_schema"

# ------------------------------------------------------------------ reads

#: One statement, so one consistent snapshot of the user row and its recovery codes.
LOAD: Final = """SELECT u.user_id, u.status, u.enrollment_id, u.sealed_secret, u.key_id, u.digits, u.period,
       u.algorithm, u.last_step, u.drift, u.failures, u.next_attempt_at, u.recovery_params,
       u.created_at, u.updated_at, u.enabled_at, r.idx, r.digest
FROM totpcore_users u LEFT JOIN totpcore_recovery r ON r.user_id = u.user_id
WHERE u.user_id = :user_id
ORDER BY r.idx"""

#: LOAD, locking the user row until the transaction ends (SQLite: BEGIN IMMEDIATE
#: already holds the database's write lock, so the clause is dropped there).
LOAD_FOR_UPDATE: Final = LOAD + "\nFOR UPDATE OF u"

LOCK_ENABLED: Final = """SELECT u.user_id FROM totpcore_users u
WHERE u.user_id = :user_id AND u.status = 'enabled' AND u.enrollment_id = :enrollment_id
FOR UPDATE OF u"""

COUNT_RECOVERY: Final = "SELECT COUNT(*) FROM totpcore_recovery WHERE user_id = :user_id"

#: Users sealed under an old key, or whose recovery digests are not sealed yet (:legacy
#: is the parameter-string prefix of such sets).
STALE_KEYS: Final = """SELECT user_id FROM totpcore_users
WHERE key_id <> :key_id OR recovery_params LIKE :legacy
ORDER BY user_id"""

# ------------------------------------------------------------------ writes

#: Insert, or replace a PENDING record; an ENABLED or LOCKED one is left alone (no row
#: returned).
BEGIN: Final = """INSERT INTO totpcore_users (user_id, status, enrollment_id, sealed_secret, key_id, digits,
                            period, algorithm, last_step, drift, failures, next_attempt_at,
                            recovery_params, created_at, updated_at, enabled_at)
VALUES (:user_id, 'pending', :enrollment_id, :sealed_secret, :key_id, :digits, :period, :algorithm,
        NULL, 0, 0, 0, NULL, :now, :now, NULL)
ON CONFLICT (user_id) DO UPDATE SET
    status = excluded.status, enrollment_id = excluded.enrollment_id,
    sealed_secret = excluded.sealed_secret, key_id = excluded.key_id,
    digits = excluded.digits, period = excluded.period, algorithm = excluded.algorithm,
    last_step = NULL, drift = 0, failures = 0, next_attempt_at = 0, recovery_params = NULL,
    created_at = excluded.created_at, updated_at = excluded.updated_at, enabled_at = NULL
WHERE totpcore_users.status = 'pending'
RETURNING user_id"""

ACTIVATE: Final = """UPDATE totpcore_users
SET status = 'enabled', last_step = :step, drift = 0, failures = 0, next_attempt_at = 0,
    recovery_params = :recovery_params, enabled_at = :now, updated_at = :now
WHERE user_id = :user_id AND status = 'pending' AND enrollment_id = :enrollment_id
RETURNING user_id"""

#: Writes back what claim_attempt decided, on the row it locked.
WRITE_CLAIM: Final = """UPDATE totpcore_users
SET status = :status, failures = :failures, next_attempt_at = :next_attempt_at, updated_at = :now
WHERE user_id = :user_id"""

LOCK_IF_EXHAUSTED: Final = """UPDATE totpcore_users
SET status = 'locked', updated_at = :now
WHERE user_id = :user_id AND status = 'enabled' AND enrollment_id = :enrollment_id
  AND failures >= :lockout
RETURNING user_id"""

#: The replay guard: one statement, so two requests with the same code cannot both pass.
ACCEPT_STEP: Final = """UPDATE totpcore_users
SET last_step = :step, drift = :drift, failures = 0, next_attempt_at = 0, updated_at = :now
WHERE user_id = :user_id AND status = 'enabled' AND enrollment_id = :enrollment_id
  AND (last_step IS NULL OR last_step < :step)
RETURNING user_id"""

DELETE_CODE: Final = """DELETE FROM totpcore_recovery
WHERE user_id = :user_id AND idx = :idx AND digest = :digest
RETURNING idx"""

CLEAR_FAILURES: Final = """UPDATE totpcore_users
SET failures = 0, next_attempt_at = 0, updated_at = :now
WHERE user_id = :user_id"""

SET_RECOVERY_PARAMS: Final = """UPDATE totpcore_users
SET recovery_params = :recovery_params, updated_at = :now
WHERE user_id = :user_id AND status = 'enabled' AND enrollment_id = :enrollment_id
RETURNING user_id"""

#: The compare-and-set that guards a rewrite of the stored digests (sealing, key rotation).
SWAP_RECOVERY_PARAMS: Final = """UPDATE totpcore_users
SET recovery_params = :new_params, updated_at = :now
WHERE user_id = :user_id AND recovery_params = :old_params
RETURNING user_id"""

RESEAL_CODE: Final = """UPDATE totpcore_recovery SET digest = :new
WHERE user_id = :user_id AND idx = :idx AND digest = :old
RETURNING idx"""

DELETE_RECOVERY: Final = "DELETE FROM totpcore_recovery WHERE user_id = :user_id"

INSERT_CODE: Final = "INSERT INTO totpcore_recovery (user_id, idx, digest) VALUES (:user_id, :idx, :digest)"

RESEAL: Final = """UPDATE totpcore_users
SET sealed_secret = :new, key_id = :key_id, updated_at = :now
WHERE user_id = :user_id AND sealed_secret = :old
RETURNING user_id"""

DELETE_USER: Final = "DELETE FROM totpcore_users WHERE user_id = :user_id RETURNING user_id"

# ------------------------------------------------------------------ dialects

_PLACEHOLDER: Final = re.compile(r":([a-z_]+)\b")
_SQLITE_LOCK: Final = "\nFOR UPDATE OF u"


@functools.cache
def _pyformat(statement: str) -> str:
    # No statement contains a "%" or a "::" cast (CAST(... AS ...) instead), so this rewrite is unambiguous.
    return _PLACEHOLDER.sub(r"%(\1)s", statement)


@functools.cache
def _without_row_lock(statement: str) -> str:
    return statement.replace(_SQLITE_LOCK, "")


def _sqlite_encode_step(step: int) -> str:
    return f"{step:020d}"


def _decode_step(value: object) -> int | None:
    # PostgreSQL returns a Decimal with no fraction: exact.
    return None if value is None else int(str(value))


def _sqlite_decode_step(value: object) -> int | None:
    # Only the 20-digit form compares in numeric order; anything else was not written by us.
    if value is None:
        return None
    if not (type(value) is str and len(value) == 20 and value.isascii() and value.isdigit()):
        raise ValueError("last_step is not 20 decimal digits")
    return int(value)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the two SQL databases."""

    name: str
    ddl: tuple[str, ...]
    upgrade_2: tuple[str, ...]
    begin: str
    schema_lock: str | None
    rewrite: Callable[[str], str]
    encode_step: Callable[[int], object]
    decode_step: Callable[[object], int | None] = _decode_step

    def sql(self, statement: str) -> str:
        """Return *statement* as this database's driver expects it."""
        return self.rewrite(statement)


SQLITE: Final = Dialect(
    name="SQLite",
    ddl=SQLITE_DDL,
    upgrade_2=SQLITE_UPGRADE_2,
    # Takes the database's write lock at once: a deferred transaction that reads first
    # could fail with SQLITE_BUSY_SNAPSHOT when it then tries to write.
    begin="BEGIN IMMEDIATE",
    schema_lock=None,
    rewrite=_without_row_lock,
    encode_step=_sqlite_encode_step,
    decode_step=_sqlite_decode_step,
)

POSTGRES: Final = Dialect(
    name="PostgreSQL",
    ddl=POSTGRES_DDL,
    upgrade_2=POSTGRES_UPGRADE_2,
    begin=POSTGRES_BEGIN,
    schema_lock=POSTGRES_SCHEMA_LOCK,
    rewrite=_pyformat,
    encode_step=int,
)
