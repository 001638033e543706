"""A throwaway PostgreSQL cluster for the tests and the benchmark.

``PgCluster.start()`` runs ``initdb`` and ``pg_ctl`` from the server binaries on PATH (or
Debian's ``/usr/lib/postgresql/*/bin``) into a fresh temporary directory, listening on a
unix socket in that directory only (no TCP port, so parallel runs cannot collide).
PostgreSQL refuses to run as root: when we are root, the server runs as the unprivileged
``postgres`` account (or ``nobody``), which owns the temporary directory; root connects
through the socket regardless of its permissions. ``stop()`` shuts the server down and
removes the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgCluster", "PgUnavailableError", "find_binary", "server_account"]

_SUPERUSER = "totpcore"
_PORT = 5432  # names the socket file; nothing listens on TCP


class PgUnavailableError(RuntimeError):
    """No PostgreSQL server binaries here, or the cluster would not start."""


def find_binary(name: str) -> str | None:
    """Return the path of a PostgreSQL server program, newest major version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name),
        reverse=True,
    )
    return str(candidates[0]) if candidates else None


def server_account() -> pwd.struct_passwd | None:
    """The account a server (PostgreSQL, PgBouncer) runs as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PgUnavailableError("running as root and neither a 'postgres' nor a 'nobody' account exists")


@dataclass
class PgCluster:
    """A running throwaway cluster. ``dsn`` reaches its ``postgres`` database as superuser."""

    root: Path
    pg_ctl: str
    account: pwd.struct_passwd | None

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's unix socket."""
        return self.root

    @property
    def dsn(self) -> str:
        """A libpq connection string for the ``postgres`` database."""
        return f"host={self.socket_dir} port={_PORT} user={_SUPERUSER} dbname=postgres"

    def _run(self, *args: str) -> None:
        user = group = None
        if self.account is not None:
            user, group = self.account.pw_uid, self.account.pw_gid
        result = subprocess.run(
            args, cwd=self.root, user=user, group=group, extra_groups=[] if user else None,
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if result.returncode:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PgUnavailableError(f"{Path(args[0]).name} failed:\n{result.stdout}{result.stderr}{tail}")

    @classmethod
    def start(cls, *, fsync: bool = True) -> PgCluster:
        """Create and start a cluster.

        Args:
            fsync: keep the server's durability settings (benchmarks); ``False`` trades
                crash safety of the *server* for speed (tests kill clients, never it).

        Raises:
            PgUnavailableError: no server binaries, or the cluster failed to start.
        """
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise PgUnavailableError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        account = server_account()
        root = Path(tempfile.mkdtemp(prefix="totpcore-pg-"))
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        cluster = cls(root, pg_ctl, account)
        try:
            data = str(root / "data")
            cluster._run(initdb, "-D", data, "-U", _SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C",
                         "--no-sync", "--no-instructions")  # fmt: skip
            options = [
                f"-k {root}",
                f"-p {_PORT}",
                "-c listen_addresses=''",
                "-c max_connections=100",
                "-c shared_buffers=32MB",
            ]
            if not fsync:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            cluster._run(pg_ctl, "-D", data, "-l", str(root / "server.log"), "-w", "-t", "60",
                         "-o", " ".join(options), "start")  # fmt: skip
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    def stop(self) -> None:
        """Stop the server (immediate shutdown: nothing in it is worth keeping) and delete its directory."""
        try:
            self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
