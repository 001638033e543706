"""The PgBouncer that the store tests run through really pools transactions (issue 15, part 4).

These check the fixture, not totpcore: if PgBouncer fell back to session pooling, the
store tests behind it would prove nothing about transaction pooling.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from store_support import pg_database, race_threads

CLIENTS = 64


@pytest.fixture
def bounced(pg_dsn: str, pgbouncer_dsn: str) -> Iterator[str]:
    """A DSN for a fresh database behind PgBouncer (a new, empty pool)."""
    with pg_database(pg_dsn, pgbouncer_dsn) as dsn:
        yield dsn


@pytest.fixture
def two_clients(bounced: str) -> Iterator[tuple[psycopg.Connection[Any], ...]]:
    """Two autocommit client connections to a fresh database behind PgBouncer."""
    with (
        psycopg.connect(bounced, autocommit=True) as first,
        psycopg.connect(bounced, autocommit=True) as second,
    ):
        yield first, second


def test_admin_console_reports_transaction_pooling(pgbouncer_dsn: str) -> None:
    """The admin console reports transaction pooling, 10 server connections a pool, room for 64 clients."""
    console = conninfo.make_conninfo(pgbouncer_dsn, dbname="pgbouncer")
    with psycopg.connect(console, autocommit=True) as admin:
        config = {row[0]: row[1] for row in admin.execute("SHOW CONFIG").fetchall()}
    assert config["pool_mode"] == "transaction"
    assert config["default_pool_size"] == "10"
    assert int(config["max_client_conn"]) >= CLIENTS


def test_clients_take_turns_on_one_server_connection(
    two_clients: tuple[psycopg.Connection[Any], ...],
) -> None:
    """Two connected clients run on the same server backend: each gives it back after its transaction."""
    first, second = two_clients
    first_pid = first.execute("SELECT pg_backend_pid()").fetchall()
    assert second.execute("SELECT pg_backend_pid()").fetchall() == first_pid


def test_session_state_leaks_to_the_next_client(two_clients: tuple[psycopg.Connection[Any], ...]) -> None:
    """A session default set by one client is seen by another: no store may rely on session state."""
    first, second = two_clients
    first.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    assert second.execute("SHOW default_transaction_isolation").fetchall() == [("serializable",)]


def test_64_clients_share_at_most_10_server_connections(bounced: str) -> None:
    """64 clients querying at once are all served, by at most 10 server backends (the pool size)."""
    clients = [psycopg.connect(bounced, autocommit=True) for _ in range(CLIENTS)]
    try:
        idle = list(clients)
        rounds = race_threads(
            CLIENTS, 1, lambda _: idle.pop().execute("SELECT pg_backend_pid(), pg_sleep(0.05)").fetchall()
        )
    finally:
        for client in clients:
            client.close()
    assert len(rounds[0]) == CLIENTS
    assert len({rows[0][0] for rows in rounds[0]}) <= 10
