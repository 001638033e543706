"""A throwaway PgBouncer in transaction-pooling mode, in front of the test PostgreSQL.

``PgBouncer.start(upstream_dsn)`` writes a configuration into a fresh temporary directory
and runs ``pgbouncer`` (from PATH or Debian's ``/usr/sbin``) in the foreground, listening
on a unix socket in that directory only (no TCP port, so parallel runs cannot collide).
PgBouncer refuses to run as root: when we are root it runs as the same unprivileged
account as ``PgCluster`` (which can reach the cluster's socket directory).

The configuration is what an EMR deployment would run, made small enough to exercise:

- ``pool_mode = transaction``: a server connection belongs to a client for one
  transaction only, so nothing a client leaves in its session is reliably seen again;
- ``default_pool_size = 10`` server connections per database, ``max_client_conn = 200``
  clients, so 64 racing clients really share a few server connections;
- a fallback ``*`` database: any database name a client asks for is forwarded to the
  upstream server under that name, so each test gets a database of its own (PgBouncer
  refuses the startup ``options`` that give the direct PostgreSQL tests their own
  ``search_path``);
- ``auth_type = trust`` with the upstream user in the ``auth_file`` (no password is kept
  anywhere), and that user is also an admin of the ``pgbouncer`` console database;
- ``ignore_startup_parameters = extra_float_digits``, which some drivers send (psycopg
  does not). ``options`` is deliberately not in it: PgBouncer would then drop a
  ``search_path`` or ``lock_timeout`` silently instead of refusing the connection.

``stop()`` terminates PgBouncer and removes the directory.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg import conninfo

from pg_cluster import PgUnavailableError, server_account

__all__ = ["PgBouncer", "PgBouncerUnavailableError"]

_POOL_SIZE = 10
_PORT = 6432  # names the socket file; nothing listens on TCP
_START_TIMEOUT = 30.0


class PgBouncerUnavailableError(RuntimeError):
    """No ``pgbouncer`` program here, or it would not start."""


def _find_pgbouncer() -> str | None:
    """Return the path of the ``pgbouncer`` program (Debian installs it in ``/usr/sbin``)."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


@dataclass
class PgBouncer:
    """A running PgBouncer. ``dsn`` reaches the upstream ``postgres`` database through it."""

    root: Path
    process: subprocess.Popen[bytes]
    user: str

    @property
    def dsn(self) -> str:
        """A libpq connection string for the ``postgres`` database, through PgBouncer."""
        return conninfo.make_conninfo(host=str(self.root), port=_PORT, user=self.user, dbname="postgres")

    def log(self) -> str:
        """The end of PgBouncer's log, for an error message."""
        log = self.root / "pgbouncer.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    @classmethod
    def start(cls, upstream_dsn: str) -> PgBouncer:
        """Start PgBouncer in front of the server that *upstream_dsn* reaches.

        The upstream's host, port, user and (if any) password are used; every database
        name is forwarded as asked.

        Raises:
            PgBouncerUnavailableError: no ``pgbouncer`` program, no account to run it as,
                or it did not open its socket in time.
        """
        program = _find_pgbouncer()
        if program is None:
            raise PgBouncerUnavailableError("pgbouncer not found (Debian package 'pgbouncer')")
        try:
            account = server_account()
        except PgUnavailableError as exc:
            raise PgBouncerUnavailableError(str(exc)) from exc
        upstream = conninfo.conninfo_to_dict(upstream_dsn)
        user = str(upstream.get("user") or "postgres")
        forward = " ".join(
            f"{key}={upstream[key]}" for key in ("host", "port", "user", "password") if upstream.get(key)
        )
        root = Path(tempfile.mkdtemp(prefix="totpcore-pgbouncer-"))
        try:
            (root / "users.txt").write_text(f'"{user}" ""\n')
            (root / "pgbouncer.ini").write_text(
                f"[databases]\n* = {forward}\n\n"
                "[pgbouncer]\n"
                "listen_addr =\n"
                f"listen_port = {_PORT}\n"
                f"unix_socket_dir = {root}\n"
                "auth_type = trust\n"
                f"auth_file = {root / 'users.txt'}\n"
                f"admin_users = {user}\n"
                "pool_mode = transaction\n"
                "max_client_conn = 200\n"
                f"default_pool_size = {_POOL_SIZE}\n"
                "ignore_startup_parameters = extra_float_digits\n"
                "log_connections = 0\n"
                "log_disconnections = 0\n"
            )
            if account is not None:
                shutil.chown(root, account.pw_uid, account.pw_gid)
            with (root / "pgbouncer.log").open("wb") as log:
                process = subprocess.Popen(
                    [program, str(root / "pgbouncer.ini")],
                    cwd=root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    user=account.pw_uid if account else None,
                    group=account.pw_gid if account else None,
                    extra_groups=[] if account else None,
                )
            bouncer = cls(root, process, user)
            bouncer._wait_for_socket()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return bouncer

    def _wait_for_socket(self) -> None:
        socket = self.root / f".s.PGSQL.{_PORT}"
        deadline = time.monotonic() + _START_TIMEOUT
        while not socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PgBouncerUnavailableError(f"pgbouncer did not start:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop PgBouncer (closing every client and server connection) and delete its directory."""
        try:
            self.process.terminate()
            self.process.wait(timeout=30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
