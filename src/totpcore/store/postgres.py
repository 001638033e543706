"""PostgresStore: MFA state in PostgreSQL, for many app servers on one database.

Needs the ``postgres`` extra (psycopg 3). Each thread gets its own connection in
autocommit mode, so a single-statement operation is one round trip and its own
transaction; multi-statement operations run between ``BEGIN`` and ``COMMIT`` with the
user's row locked first (``FOR UPDATE`` or the ``UPDATE`` itself). At the default
READ COMMITTED level a concurrent ``UPDATE ... WHERE last_step < :step`` waits for the
row lock and then re-checks its condition on the committed row, which is what makes the
replay guard atomic across servers (PostgreSQL manual, "Transaction Isolation", 13.2.1).

Server-side limits (``lock_timeout``, ``statement_timeout``) can be set in the DSN, for
example ``postgresql://app@db/emr?options=-c%20lock_timeout%3D2s``; an exceeded limit is
a ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

try:
    import psycopg
    from psycopg import conninfo
except ImportError as exc:  # pragma: no cover - the dev extra always installs it
    raise ImportError(
        "PostgresStore needs psycopg 3: pip install 'totpcore[postgres]'", name=exc.name
    ) from exc

from totpcore.store import _sql
from totpcore.store._sql import POSTGRES, Dialect, Row
from totpcore.store._sqlstore import SqlStore

__all__ = ["PostgresStore"]

_UNDEFINED_TABLE = "42P01"


class PostgresStore(SqlStore["psycopg.Connection[Row]"]):
    """MFA state in a PostgreSQL database.

    Args:
        dsn: a libpq connection string or ``postgresql://`` URL. It is never repeated
            in an error message (it may hold a password). ``application_name`` defaults
            to ``totpcore`` so DBAs can tell the connections apart. Nothing connects
            here: a malformed DSN or an unreachable server is a ``StoreError`` on first use.
    """

    dialect: ClassVar[Dialect] = POSTGRES
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn

    def __repr__(self) -> str:
        return "PostgresStore(<dsn redacted>)"

    def _open(self) -> psycopg.Connection[Row]:
        named = "application_name" in conninfo.conninfo_to_dict(self._dsn)
        dsn = self._dsn if named else conninfo.make_conninfo(self._dsn, application_name="totpcore")
        conn = psycopg.connect(dsn, autocommit=True)
        try:
            # The replay guard relies on READ COMMITTED re-checking a WHERE clause after a
            # row-lock wait; a stricter server default would turn a lost race into a
            # serialisation error instead of a clean False.
            conn.execute(_sql.POSTGRES_SESSION)
        except BaseException:
            conn.close()
            raise
        return conn

    def _execute(self, conn: psycopg.Connection[Row], sql: str, params: Mapping[str, object]) -> list[Row]:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description is not None else []

    def _execute_many(
        self, conn: psycopg.Connection[Row], sql: str, params: Sequence[Mapping[str, object]]
    ) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(sql, params)

    @staticmethod
    def _close_connection(conn: object) -> None:
        assert isinstance(conn, psycopg.Connection)  # noqa: S101 - only ever given our own
        conn.close()

    def _explain(self, exc: Exception) -> str:
        # The primary message of a server error can quote a value; report only the class
        # and SQLSTATE. The chained exception keeps the details for the operator's log.
        sqlstate = getattr(exc, "sqlstate", None)
        code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
        hint = "; has create_schema() been called?" if sqlstate == _UNDEFINED_TABLE else ""
        return f"{type(exc).__name__}{code}{hint}"
