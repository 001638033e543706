"""SQLiteStore's files on disk: the database, its WAL and its shared memory are owner-only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store_support import enroll
from totpcore.store import SQLiteStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after the test."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(path: Path) -> dict[str, int]:
    """The permission bits of the database, its -wal and its -shm file."""
    return {suffix: stat.S_IMODE(Path(f"{path}{suffix}").stat().st_mode) for suffix in ("", "-wal", "-shm")}


@pytest.mark.usefixtures("umask")
class TestNewDatabase:
    """A database the store creates is 0600, with its WAL and SHM files, whatever the umask."""

    @pytest.mark.parametrize("mask", [0o022, 0o002, 0o000, 0o077], ids=oct)
    def test_all_three_files_are_0600(self, tmp_path: Path, mask: int) -> None:
        """After a write (WAL and SHM exist while the store is open), every file is 0600."""
        os.umask(mask)
        path = tmp_path / "mfa.sqlite3"
        store = SQLiteStore(path)
        store.create_schema()
        enroll(store)
        assert modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        store.close()

    def test_two_stores_on_one_new_file(self, tmp_path: Path) -> None:
        """A second store opening the file the first created uses it as it is."""
        os.umask(0o000)
        path = tmp_path / "mfa.sqlite3"
        first, second = SQLiteStore(path), SQLiteStore(path)
        first.create_schema()
        second.create_schema()
        enroll(first)
        assert second.load("alice") is not None
        assert modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        first.close()
        second.close()


@pytest.mark.usefixtures("umask")
def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    """A database file that already exists is not chmod-ed: its mode is the operator's choice."""
    path = tmp_path / "mfa.sqlite3"
    path.touch()  # an empty file is an empty SQLite database
    path.chmod(0o640)
    store = SQLiteStore(path)
    store.create_schema()
    enroll(store)
    assert modes(path) == {"": 0o640, "-wal": 0o640, "-shm": 0o640}
    store.close()
