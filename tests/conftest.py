"""Hypothesis profiles and the store fixtures for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from helpers import unavailable
from pg_cluster import PgCluster, PgUnavailableError
from pgbouncer import PgBouncer, PgBouncerUnavailableError
from store_support import Backend, pg_database, pg_schema
from totpcore.store import Store

# "ci" runs more examples with no deadline (shared CI machines are noisy); "dev" is quick;
# "soak" is the long run of the state-machine test (make soak sets HYPOTHESIS_PROFILE).
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
# "mutation" (make mutation): mutmut runs pytest several times in one process, and the score
# must not depend on chance, so the examples are derandomized and nothing is kept between runs.
settings.register_profile(
    "mutation",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    max_examples=1000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


# ---------------------------------------------------------------- stores (issue 6)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL server for the session: TOTPCORE_TEST_POSTGRES_DSN, else a throwaway cluster.

    Without server binaries the PostgreSQL tests are skipped, except under CI, where
    they fail: a green CI run must have exercised PostgreSQL.
    """
    external = os.environ.get("TOTPCORE_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    try:
        cluster = PgCluster.start(fsync=False)
    except PgUnavailableError as exc:
        unavailable(f"PostgreSQL unavailable: {exc}")
    try:
        yield cluster.dsn
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pgbouncer_dsn(pg_dsn: str) -> Iterator[str]:
    """A PgBouncer in transaction-pooling mode in front of ``pg_dsn``, for the session.

    Its DSN names the ``postgres`` database; any other name is forwarded as asked. Without
    ``pgbouncer`` the tests through it are skipped, except under CI, where they fail.
    """
    try:
        bouncer = PgBouncer.start(pg_dsn)
    except PgBouncerUnavailableError as exc:
        unavailable(f"PgBouncer unavailable: {exc}")
    try:
        yield bouncer.dsn
    finally:
        bouncer.stop()


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    """A store on the test's backend, with its schema created, closed after the test."""
    opened = backend.open()
    yield opened
    opened.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """One store backend, named by the test's ``backend`` parameter, in a fresh database."""
    kind: str = request.param
    if kind == "postgres":
        with pg_schema(request.getfixturevalue("pg_dsn")) as dsn:
            yield Backend(kind, dsn)
    elif kind == "pgbouncer":
        via = request.getfixturevalue("pgbouncer_dsn")
        with pg_database(request.getfixturevalue("pg_dsn"), via) as dsn:
            yield Backend(kind, dsn)
    else:
        yield Backend(kind, str(tmp_path / "mfa.sqlite3") if kind == "sqlite" else "")
