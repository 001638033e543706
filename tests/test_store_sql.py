"""What the SQL stores add to the contract: schema versions, connections, failures."""

from __future__ import annotations

import gc
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from store_support import CONFIRM_STEP, DIGESTS, SECRET, Backend, enroll, pg_schema, with_setting
from totpcore.errors import StoreError
from totpcore.store import (
    SCHEMA_VERSION,
    ClaimResult,
    PostgresStore,
    SQLiteStore,
    Status,
    _sql,
    _sqlstore,
    open_store,
)
from totpcore.store._sqlstore import SqlStore
from totpcore.store.sqlite import enable_wal
from totpcore.throttle import Throttle

SQL_BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "storage.md"


def sql_store(backend: Backend, *, create: bool = True) -> SqlStore[object]:
    """Open *backend* typed as the shared SQL implementation."""
    store = backend.open(create=create)
    assert isinstance(store, SqlStore)
    return store


def raw_rows(backend: Backend, query: str) -> list[tuple[object, ...]]:
    """Run *query* on a connection of our own, outside any store."""
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.target) as conn:
            return conn.execute(query).fetchall()
    with psycopg.connect(backend.target, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def raw_execute(backend: Backend, statement: str) -> None:
    """Run *statement* and commit, outside any store."""
    if backend.kind == "sqlite":
        conn = sqlite3.connect(backend.target)
        with conn:
            conn.execute(statement)
        conn.close()
    else:
        with psycopg.connect(backend.target, autocommit=True) as pg:
            pg.execute(statement)


@SQL_BACKENDS
class TestSchemaVersion:
    """create_schema() records the version and refuses a newer database."""

    def test_records_the_version_once(self, backend: Backend) -> None:
        """The version table holds SCHEMA_VERSION, once, however often it runs."""
        store = sql_store(backend)
        store.create_schema()
        store.close()
        assert raw_rows(backend, "SELECT version FROM totpcore_schema") == [(SCHEMA_VERSION,)]

    def test_refuses_a_newer_schema(self, backend: Backend) -> None:
        """A database migrated by a newer totpcore is not written by an older one."""
        store = sql_store(backend)
        raw_execute(backend, "DELETE FROM totpcore_schema")
        raw_execute(backend, "INSERT INTO totpcore_schema (version) VALUES (99)")
        with pytest.raises(StoreError, match="schema version 99"):
            store.create_schema()
        store.close()
        assert raw_rows(backend, "SELECT version FROM totpcore_schema") == [(99,)]

    def test_concurrent_creation(self, backend: Backend) -> None:
        """Many app servers starting at once all succeed (PostgreSQL DDL is serialised)."""
        stores = [sql_store(backend, create=False) for _ in range(4)]
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def create(store: SqlStore[object]) -> None:
            barrier.wait()
            try:
                store.create_schema()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in stores:
            store.close()
        assert errors == []


@SQL_BACKENDS
class TestFailures:
    """A database error is a StoreError, never a success, and the store recovers."""

    def test_missing_schema(self, backend: Backend) -> None:
        """Before create_schema() every operation fails, and says why."""
        store = sql_store(backend, create=False)
        with pytest.raises(StoreError, match=r"create_schema\(\)") as caught:
            store.begin(
                "alice", sealed_secret=SECRET, key_id="k", digits=6, period=30, algorithm="SHA1", now=1.0
            )
        assert caught.value.__cause__ is not None
        assert "sealed" not in str(caught.value)
        with pytest.raises(StoreError):
            store.accept_step("alice", step=1, drift=0, now=1.0)
        store.create_schema()
        enroll(store)
        store.close()

    def test_a_failing_close_does_not_hide_the_error(
        self, backend: Backend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The StoreError reported is the operation's, even if closing the connection fails too."""
        store = sql_store(backend, create=False)
        close = store._close_connection

        def close_then_fail(conn: object) -> None:
            close(conn)
            raise RuntimeError("close failed")

        monkeypatch.setattr(store, "_close_connection", close_then_fail)
        with pytest.raises(StoreError, match="load failed"):
            store.load("alice")
        store.close()

    def test_a_bug_inside_a_transaction_rolls_it_back(self, backend: Backend) -> None:
        """An exception between two statements leaves nothing half-written."""
        store = sql_store(backend)
        enroll(store)

        class Broken(Throttle):
            def delay_after(self, failures: int) -> float:
                raise RuntimeError(f"policy bug at {failures}")

        with pytest.raises(RuntimeError, match="policy bug"):
            store.claim_attempt("alice", now=2000.0, throttle=Broken())
        record = store.load("alice")
        assert record is not None
        assert record.failures == 0
        assert store.claim_attempt("alice", now=2000.0, throttle=Throttle()).result is ClaimResult.CLAIMED
        store.close()


@SQL_BACKENDS
class TestConnections:
    """One connection per thread and per process, closed when no longer needed."""

    def test_one_connection_per_thread(self, backend: Backend) -> None:
        """Threads never share a connection; a thread reuses its own."""
        store = sql_store(backend)
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(store._connection()))
        thread.start()
        thread.join()
        mine = store._connection()
        assert mine is store._connection()
        assert seen[0] is not mine
        store.close()

    def test_a_finished_thread_releases_its_connection(self, backend: Backend) -> None:
        """Thread-per-request servers do not leak connections."""
        store = sql_store(backend)
        enroll(store)
        threads = [threading.Thread(target=store.load, args=("alice",)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gc.collect()
        assert sum(f.alive for f in store._finalizers) == 1  # this thread's
        store.close()
        assert not any(f.alive for f in store._finalizers)

    def test_a_forked_child_opens_its_own(self, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
        """After fork() the inherited connection is neither used nor closed."""
        store = sql_store(backend)
        enroll(store)
        parent_conn = store._connection()
        monkeypatch.setattr(_sqlstore, "getpid", lambda: -1)
        child_conn = store._connection()
        assert child_conn is not parent_conn
        gc.collect()
        assert parent_conn in _sqlstore._INHERITED
        assert store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        monkeypatch.undo()
        _sqlstore._INHERITED.remove(parent_conn)
        store._close_connection(parent_conn)
        store.close()


@SQL_BACKENDS
class TestSharedDatabase:
    """Two stores on one database (two app servers) see each other's writes."""

    def test_second_store_sees_the_first(self, backend: Backend) -> None:
        """An accepted step and a used recovery code are used up for every server."""
        first, second = backend.open(), backend.open()
        enroll(first)
        assert first.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert not second.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert second.consume_recovery("alice", index=0, digest=DIGESTS[0], now=2001.0) == 4
        assert first.consume_recovery("alice", index=0, digest=DIGESTS[0], now=2001.0) is None
        first.close()
        second.close()


class TestSQLite:
    """SQLite specifics: WAL, busy timeout, the text encoding of last_step."""

    def test_wal_and_text_steps(self, tmp_path: Path) -> None:
        """The file is in WAL mode; last_step is 20 zero-padded digits."""
        path = tmp_path / "mfa.db"
        store = SQLiteStore(path)
        store.create_schema()
        enroll(store, step=42)
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("SELECT last_step FROM totpcore_users").fetchone() == (
                "00000000000000000042",
            )
        assert repr(store) == f"SQLiteStore({str(path)!r})"
        store.close()

    @pytest.mark.parametrize(("busy", "timeout", "switched"), [(2, 1.0, True), (5, 0.02, False)])
    def test_the_first_switch_to_wal_is_retried(
        self, tmp_path: Path, busy: int, timeout: float, switched: bool
    ) -> None:
        """Connections racing to switch a new file to WAL retry within the timeout, then fail."""

        class Racing(sqlite3.Connection):
            refusals = busy

            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # noqa: ANN401 - sqlite3's own
                if sql == "PRAGMA journal_mode = WAL" and Racing.refusals:
                    Racing.refusals -= 1
                    raise sqlite3.OperationalError("database is locked")
                return super().execute(sql, *args)

        conn = sqlite3.connect(tmp_path / "new.db", factory=Racing)
        if switched:
            enable_wal(conn, timeout)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        else:
            with pytest.raises(sqlite3.OperationalError):
                enable_wal(conn, timeout)
        conn.close()

    def test_a_held_lock_times_out_as_store_error(self, tmp_path: Path) -> None:
        """Another writer holding the database past the timeout is a failure, not a replay."""
        path = tmp_path / "mfa.db"
        store = SQLiteStore(path, timeout=0.05)
        store.create_schema()
        enroll(store)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match=r"SQLITE_BUSY|locked"):
            store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        with pytest.raises(StoreError):
            store.consume_recovery("alice", index=0, digest=DIGESTS[0], now=2000.0)
        other.execute("ROLLBACK")
        other.close()
        assert store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert store.consume_recovery("alice", index=0, digest=DIGESTS[0], now=2000.0) == 4
        store.close()

    def test_not_a_database(self, tmp_path: Path) -> None:
        """A corrupt or foreign file is a StoreError."""
        path = tmp_path / "mfa.db"
        path.write_bytes(b"this is not an SQLite database" * 100)
        with pytest.raises(StoreError, match=r"SQLITE_NOTADB|not a database"):
            SQLiteStore(path).create_schema()

    def test_unreachable_path(self, tmp_path: Path) -> None:
        """A directory that does not exist is a StoreError on first use."""
        store = SQLiteStore(tmp_path / "missing" / "mfa.db")
        with pytest.raises(StoreError, match="SQLite store: load failed"):
            store.load("alice")

    @pytest.mark.parametrize("path", ["", ":memory:"])
    def test_refuses_private_databases(self, path: str) -> None:
        """An in-memory database would be private to each thread."""
        with pytest.raises(ValueError, match="MemoryStore"):
            SQLiteStore(path)

    @pytest.mark.parametrize("timeout", [-1.0, float("nan")])
    def test_refuses_a_bad_timeout(self, tmp_path: Path, timeout: float) -> None:
        """The busy timeout is zero or more seconds."""
        with pytest.raises(ValueError, match="timeout"):
            SQLiteStore(tmp_path / "x.db", timeout=timeout)

    def test_needs_sqlite_3_35(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """RETURNING is required: an older library is refused up front."""
        monkeypatch.setattr("totpcore.store.sqlite.sqlite3.sqlite_version_info", (3, 34, 1))
        with pytest.raises(StoreError, match=r"3\.35"):
            SQLiteStore(tmp_path / "x.db")

    def test_open_store_paths(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """sqlite:///relative and sqlite:////absolute, as in SQLAlchemy."""
        monkeypatch.chdir(tmp_path)
        relative = open_store("sqlite:///rel.db")
        absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
        assert isinstance(relative, SQLiteStore)
        assert isinstance(absolute, SQLiteStore)
        assert (relative.path, absolute.path) == ("rel.db", f"{tmp_path}/abs.db")
        relative.create_schema()
        absolute.create_schema()
        assert (tmp_path / "rel.db").exists()
        assert (tmp_path / "abs.db").exists()
        relative.close()
        absolute.close()


class TestPostgres:
    """PostgreSQL specifics: lost connections, lock timeouts, the DSN kept secret."""

    def test_a_lost_connection_fails_then_recovers(self, pg_dsn: str) -> None:
        """A terminated backend is one StoreError; the next operation reconnects."""
        with pg_schema(pg_dsn) as dsn:
            store = PostgresStore(dsn)
            store.create_schema()
            enroll(store)
            pid = store._connection().info.backend_pid
            with psycopg.connect(pg_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(StoreError, match="SQLSTATE 57P01"):
                store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
            assert store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
            store.close()

    def test_a_lock_timeout_is_a_store_error(self, pg_dsn: str) -> None:
        """A row held by another transaction past lock_timeout fails closed."""
        with pg_schema(pg_dsn) as dsn:
            setup = PostgresStore(dsn)
            setup.create_schema()
            enroll(setup)
            setup.close()
            store = PostgresStore(with_setting(dsn, "lock_timeout=50"))
            with psycopg.connect(dsn) as holder:
                holder.execute("SELECT 1 FROM totpcore_users WHERE user_id = 'alice' FOR UPDATE")
                with pytest.raises(StoreError, match="SQLSTATE 55P03"):
                    store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
                with pytest.raises(StoreError, match="SQLSTATE 55P03"):
                    store.claim_attempt("alice", now=2000.0, throttle=Throttle())
            assert store.accept_step("alice", step=CONFIRM_STEP + 1, drift=0, now=2000.0)
            record = store.load("alice")
            assert record is not None
            assert record.failures == 0
            store.close()

    def test_a_failed_session_setup_closes_the_connection(
        self, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A connection that cannot be configured is closed, not used half-configured."""
        opened: list[psycopg.Connection[tuple[object, ...]]] = []
        connect = psycopg.connect

        def spy(*args: Any, **kwargs: Any) -> psycopg.Connection[tuple[object, ...]]:  # noqa: ANN401
            conn = connect(*args, **kwargs)
            opened.append(conn)
            return conn

        monkeypatch.setattr(_sql, "POSTGRES_SESSION", "SET no_such_setting = 1")
        monkeypatch.setattr("totpcore.store.postgres.psycopg.connect", spy)
        store = PostgresStore(pg_dsn)
        with pytest.raises(StoreError, match="SQLSTATE 42704"):
            store.load("alice")
        assert [conn.closed for conn in opened] == [True]

    def test_the_dsn_is_never_shown(self, tmp_path: Path) -> None:
        """A password in the DSN appears neither in repr nor in errors."""
        dsn = f"postgresql://app:hunter2-secret@/emr?host={tmp_path}&connect_timeout=2"
        store = open_store(dsn)
        assert isinstance(store, PostgresStore)
        assert "hunter2" not in repr(store)
        with pytest.raises(StoreError) as caught:
            store.load("alice")
        assert "hunter2" not in str(caught.value)
        assert "OperationalError" in str(caught.value)

    def test_application_name(self, pg_dsn: str) -> None:
        """Connections are named ``totpcore`` unless the DSN names them."""
        for dsn, expected in ((pg_dsn, "totpcore"), (f"{pg_dsn} application_name=emr-web", "emr-web")):
            store = PostgresStore(dsn)
            assert store._connection().info.parameter_status("application_name") == expected
            store.close()

    def test_steps_are_numeric(self, pg_dsn: str) -> None:
        """last_step is NUMERIC(20, 0), readable by a DBA as the step itself."""
        with pg_schema(pg_dsn) as dsn:
            store = PostgresStore(dsn)
            store.create_schema()
            enroll(store, step=2**64 - 1)
            store.close()
            backend = Backend("postgres", dsn)
            rows = raw_rows(backend, "SELECT last_step::text, pg_typeof(last_step)::text FROM totpcore_users")
            assert rows == [("18446744073709551615", "numeric")]


class TestDocumentedSql:
    """docs/storage.md quotes the statements the stores run, verbatim."""

    def test_every_statement_is_documented(self) -> None:
        """A change to the SQL without a change to the DBA's page fails here."""
        text = DOCS.read_text(encoding="utf-8")
        statements = {
            name: value for name, value in vars(_sql).items() if name.isupper() and isinstance(value, str)
        }
        statements |= {f"SQLITE_DDL[{i}]": ddl for i, ddl in enumerate(_sql.SQLITE_DDL)}
        statements |= {f"POSTGRES_DDL[{i}]": ddl for i, ddl in enumerate(_sql.POSTGRES_DDL)}
        statements |= {f"SQLITE_PRAGMAS[{i}]": pragma for i, pragma in enumerate(_sql.SQLITE_PRAGMAS)}
        missing = [name for name, statement in statements.items() if statement not in text]
        assert missing == []

    def test_every_status_is_allowed_by_the_schema(self) -> None:
        """The CHECK constraint lists exactly the stored statuses (NONE is no row)."""
        stored = {s.value for s in Status} - {Status.NONE.value}
        for ddl in (_sql.SQLITE_DDL[1], _sql.POSTGRES_DDL[1]):
            match = re.search(r"status IN \(([^)]*)\)", ddl)
            assert match is not None
            assert {v.strip(" '") for v in match.group(1).split(",")} == stored
