"""What the SQL stores add to the contract: schema versions, connections, failures."""

from __future__ import annotations

import gc
import re
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from store_support import (
    CONFIRM_STEP,
    DIGESTS,
    EID,
    Backend,
    begin,
    claim,
    connections_named,
    enroll,
    pg_schema,
    race_threads,
    with_setting,
)
from totpcore.errors import ConfigurationError, StoreError
from totpcore.store import (
    SCHEMA_VERSION,
    ClaimResult,
    PostgresStore,
    SQLiteStore,
    Status,
    _sql,
    open_store,
)
from totpcore.store import postgres as postgres_module
from totpcore.store import sqlite as sqlite_module
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
class TestSchemaUpgrade:
    """A version-1 database (no enrolment ids) is upgraded in place by create_schema()."""

    def test_version_1_rows_get_enrolment_ids(self, backend: Backend) -> None:
        """Existing users keep working; each gets a distinct random enrolment id."""
        dialect = _sql.SQLITE if backend.kind == "sqlite" else _sql.POSTGRES
        for statement in (*dialect.ddl[:1], *_version_1(dialect.ddl[1:])):
            raw_execute(backend, statement)
        raw_execute(backend, "INSERT INTO totpcore_schema (version) VALUES (1)")
        step = "'00000000000000000100'" if backend.kind == "sqlite" else "100"
        for user in ("alice", "bob"):
            columns = (
                "user_id, status, sealed_secret, key_id, digits, period, algorithm, last_step, drift,"
                " failures, next_attempt_at, recovery_params, created_at, updated_at, enabled_at"
            )
            values = (
                f"'{user}', 'enabled', {_blob(backend)}, 'k1', 6, 30, 'SHA1', {step}, 0, 0, 0, '$t$', 1, 1, 1"
            )
            raw_execute(backend, f"INSERT INTO totpcore_users ({columns}) VALUES ({values})")  # noqa: S608 - ours
        store = sql_store(backend)
        versions = raw_rows(backend, "SELECT version FROM totpcore_schema ORDER BY version")
        assert versions == [(1,), (SCHEMA_VERSION,)]
        alice, bob = store.load("alice"), store.load("bob")
        assert alice is not None
        assert bob is not None
        assert re.fullmatch("[0-9a-f]{32}", alice.enrollment_id)
        assert alice.enrollment_id != bob.enrollment_id
        assert alice.damaged == frozenset()
        step_ok = store.accept_step("alice", enrollment_id=alice.enrollment_id, step=101, drift=0, now=2.0)
        assert step_ok
        store.create_schema()
        store.close()


def _version_1(ddl: tuple[str, ...]) -> list[str]:
    """The tables as version 1 created them: the users table without enrollment_id."""
    return [re.sub(r"\n    enrollment_id +TEXT +NOT NULL,", "", statement) for statement in ddl]


def _blob(backend: Backend) -> str:
    return "X'00ff'" if backend.kind == "sqlite" else "'\\x00ff'::bytea"


@SQL_BACKENDS
class TestFailures:
    """A database error is a StoreError, never a success, and the store recovers."""

    def test_missing_schema(self, backend: Backend) -> None:
        """Before create_schema() every operation fails, and says why."""
        store = sql_store(backend, create=False)
        with pytest.raises(StoreError, match=r"create_schema\(\)") as caught:
            begin(store, now=1.0)
        assert caught.value.__cause__ is not None
        assert "sealed" not in str(caught.value)
        with pytest.raises(StoreError):
            store.accept_step("alice", enrollment_id=EID, step=1, drift=0, now=1.0)
        store.create_schema()
        enroll(store)
        store.close()

    def test_a_bug_inside_a_transaction_rolls_it_back(self, backend: Backend) -> None:
        """An exception between two statements leaves nothing half-written."""
        store = sql_store(backend)
        enroll(store)

        class Broken(Throttle):
            def delay_after(self, failures: int) -> float:
                raise RuntimeError(f"policy bug at {failures}")

        with pytest.raises(RuntimeError, match="policy bug"):
            claim(store, now=2000.0, throttle=Broken())
        record = store.load("alice")
        assert record is not None
        assert record.failures == 0
        assert claim(store, now=2000.0, throttle=Throttle()).result is ClaimResult.CLAIMED
        store.close()


@SQL_BACKENDS
class TestSharedDatabase:
    """Two stores on one database (two app servers) see each other's writes."""

    def test_second_store_sees_the_first(self, backend: Backend) -> None:
        """An accepted step and a used recovery code are used up for every server."""
        first, second = backend.open(), backend.open()
        enroll(first)
        assert first.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert not second.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert (
            second.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=2001.0) == 4
        )
        assert (
            first.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=2001.0) is None
        )
        first.close()
        second.close()


class TestSQLite:
    """SQLite specifics: WAL, busy retries, connections per thread, the text encoding of last_step."""

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
            store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        with pytest.raises(StoreError):
            store.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=2000.0)
        other.execute("ROLLBACK")
        other.close()
        assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert store.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=2000.0) == 4
        store.close()

    def test_a_busy_database_is_retried_until_free(self, tmp_path: Path) -> None:
        """A writer holding the lock a while delays the operation; it then succeeds, same connection."""
        path = tmp_path / "mfa.db"
        store = SQLiteStore(path, timeout=10.0)
        store.create_schema()
        enroll(store)
        conn = store._thread_connection()
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(0.6, lambda: other.execute("ROLLBACK"))
        release.start()
        assert store.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=2000.0) == 4
        release.join()
        other.close()
        assert store._thread_connection() is conn
        store.close()

    def test_a_failing_close_does_not_hide_the_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The StoreError reported is the operation's, even if closing the connection fails too."""

        class FailingClose(sqlite3.Connection):
            def close(self) -> None:
                super().close()
                raise RuntimeError("close failed")

        connect = sqlite3.connect
        monkeypatch.setattr(
            "totpcore.store.sqlite.sqlite3.connect", lambda *a, **k: connect(*a, **k, factory=FailingClose)
        )
        store = SQLiteStore(tmp_path / "mfa.db")
        with pytest.raises(StoreError, match="load failed"):
            store.load("alice")
        store.close()

    def test_one_connection_per_thread(self, tmp_path: Path) -> None:
        """Threads never share a connection; a thread reuses its own."""
        store = SQLiteStore(tmp_path / "mfa.db")
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(store._thread_connection()))
        thread.start()
        thread.join()
        mine = store._thread_connection()
        assert mine is store._thread_connection()
        assert seen[0] is not mine
        store.close()

    def test_a_finished_thread_releases_its_connection(self, tmp_path: Path) -> None:
        """Thread-per-request servers do not leak connections."""
        store = SQLiteStore(tmp_path / "mfa.db")
        store.create_schema()
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

    def test_a_forked_child_opens_its_own(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """After fork() the inherited connection is neither used nor closed."""
        store = SQLiteStore(tmp_path / "mfa.db")
        store.create_schema()
        enroll(store)
        parent_conn = store._thread_connection()
        monkeypatch.setattr(sqlite_module, "getpid", lambda: -1)
        child_conn = store._thread_connection()
        assert child_conn is not parent_conn
        gc.collect()
        assert parent_conn in sqlite_module._INHERITED
        assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        monkeypatch.undo()
        sqlite_module._INHERITED.remove(parent_conn)
        parent_conn.close()
        store.close()

    def test_a_connection_that_cannot_roll_back_is_not_reused(self, tmp_path: Path) -> None:
        """After a busy error, a connection whose rollback fails is thrown away (closed connections too)."""
        conn = sqlite3.connect(tmp_path / "x.db")
        conn.close()
        assert not sqlite_module._rolled_back(conn)

        class FailingRollback(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # noqa: ANN401 - sqlite3's own
                if sql == "ROLLBACK":
                    raise sqlite3.OperationalError("disk I/O error")
                return super().execute(sql, *args)

        open_one = sqlite3.connect(tmp_path / "x.db", isolation_level=None, factory=FailingRollback)
        open_one.execute("BEGIN IMMEDIATE")
        assert not sqlite_module._rolled_back(open_one)
        open_one.close()
        store = SQLiteStore(tmp_path / "x.db")
        store._discard()  # nothing opened yet on this thread: nothing to close
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
    """PostgreSQL specifics: the pool, lost connections, lock timeouts, the DSN kept secret."""

    def test_a_lost_connection_fails_then_recovers(self, pg_dsn: str) -> None:
        """A terminated backend is one StoreError; the next operation uses a fresh connection."""
        with pg_schema(pg_dsn) as dsn:
            name = f"totpcore-{secrets.token_hex(4)}"
            store = PostgresStore(psycopg.conninfo.make_conninfo(dsn, application_name=name), pool_size=1)
            store.create_schema()
            enroll(store)
            with psycopg.connect(pg_dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (name,),
                )
            with pytest.raises(StoreError, match=r"SQLSTATE 57P01|OperationalError"):
                store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
            assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
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
                    store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
                with pytest.raises(StoreError, match="SQLSTATE 55P03"):
                    claim(store, now=2000.0, throttle=Throttle())
            assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
            record = store.load("alice")
            assert record is not None
            assert record.failures == 0
            store.close()

    def test_a_serializable_default_still_gives_clean_answers(self, pg_dsn: str) -> None:
        """With SERIALIZABLE as the server's default, 16 threads racing one step: one True, no StoreError."""
        with pg_schema(pg_dsn) as dsn:
            store = PostgresStore(
                with_setting(dsn, "default_transaction_isolation=serializable"), pool_size=16
            )
            store.create_schema()
            enroll(store)
            rounds = race_threads(
                16,
                10,
                lambda r: store.accept_step(
                    "alice", enrollment_id=EID, step=CONFIRM_STEP + 1 + r, drift=0, now=2000.0
                ),
            )
            assert [row.count(True) for row in rounds] == [1] * 10
            store.close()

    def test_the_pool_bounds_the_connections(self, pg_dsn: str) -> None:
        """64 threads on one store hold at most pool_size server connections (10 by default)."""
        with pg_schema(pg_dsn) as dsn:
            name = f"totpcore-{secrets.token_hex(4)}"
            store = PostgresStore(psycopg.conninfo.make_conninfo(dsn, application_name=name))
            store.create_schema()
            for user in range(64):
                enroll(store, f"user-{user}")
            peak: list[int] = []

            def login(r: int) -> bool:
                user = f"user-{threading.get_ident() % 64}"
                claim(store, user, now=2000.0 + r, throttle=Throttle(free_attempts=99, lockout=100))
                if r == 2:
                    peak.append(connections_named(pg_dsn, name))
                return True

            race_threads(64, 5, login)
            assert 1 <= max(peak) <= 10
            assert store.pool_size == 10
            store.close()

    def test_pool_size_from_the_url(self, tmp_path: Path) -> None:
        """?pool_size=N sets the bound and never reaches libpq; other parameters pass through."""
        store = open_store(f"postgresql:///postgres?host={tmp_path}&pool_size=3&connect_timeout=2")
        assert isinstance(store, PostgresStore)
        assert store.pool_size == 3
        assert "pool_size=" not in store._conninfo
        assert "connect_timeout" in store._conninfo
        store.close()
        for bad in ("pool_size=0", "pool_size=x", "pool_size=2&pool_size=3", "pool_size=1001"):
            with pytest.raises(ConfigurationError, match="pool_size"):
                open_store(f"postgresql:///postgres?{bad}")

    def test_a_forked_child_opens_its_own_pool(self, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """After fork() the inherited pool is neither used nor closed."""
        with pg_schema(pg_dsn) as dsn:
            store = PostgresStore(dsn)
            store.create_schema()
            enroll(store)
            parent_pool = store._pool()
            monkeypatch.setattr(postgres_module, "getpid", lambda: -1)
            assert store._pool() is not parent_pool
            assert parent_pool in postgres_module._INHERITED
            assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
            store.close()
            monkeypatch.undo()
            postgres_module._INHERITED.remove(parent_pool)
            parent_pool.close()

    def test_the_dsn_is_never_shown(self, tmp_path: Path) -> None:
        """A password in the DSN appears neither in repr nor in errors."""
        dsn = f"postgresql://app:hunter2-secret@/emr?host={tmp_path}&connect_timeout=2"
        assert "hunter2" not in repr(open_store(dsn))
        store = PostgresStore(dsn, timeout=0.5)
        assert "hunter2" not in repr(store)
        with pytest.raises(StoreError) as caught:
            store.load("alice")
        assert "hunter2" not in str(caught.value)
        assert "PoolTimeout" in str(caught.value)
        store.close()

    def test_application_name(self, pg_dsn: str) -> None:
        """Connections are named ``totpcore`` unless the DSN names them."""
        for dsn, expected in ((pg_dsn, "totpcore"), (f"{pg_dsn} application_name=emr-web", "emr-web")):
            store = PostgresStore(dsn)
            with store._pool().connection() as conn:
                assert conn.info.parameter_status("application_name") == expected
            store.close()

    @pytest.mark.parametrize(("pool_size", "timeout"), [(0, 1.0), (1, 0.0), (1, float("nan")), (1, 3601)])
    def test_bad_pool_settings(self, pool_size: int, timeout: float) -> None:
        """The pool is 1 to 1000 connections and the wait 0 to 3600 seconds."""
        with pytest.raises(ConfigurationError):
            PostgresStore("dbname=x", pool_size=pool_size, timeout=timeout)

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
