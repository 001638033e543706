"""open_store() and the import surface of totpcore.store."""

from __future__ import annotations

import subprocess
import sys

import pytest

import totpcore.store
from totpcore.errors import ConfigurationError
from totpcore.store import MemoryStore, PostgresStore, open_store


def run_python(code: str) -> str:
    """Run *code* in a fresh interpreter and return its output."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


class TestOpenStore:
    """A store is chosen by URL; bad URLs are refused without being echoed."""

    def test_memory(self) -> None:
        """memory:// is a fresh MemoryStore."""
        store = open_store("memory://")
        assert isinstance(store, MemoryStore)
        assert open_store("memory://") is not store
        assert repr(store) == "MemoryStore(<0 users>)"

    @pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
    def test_postgres(self, scheme: str) -> None:
        """Both spellings give a PostgresStore; nothing connects yet."""
        store = open_store(f"{scheme}://app:pw@db.invalid/emr")
        assert isinstance(store, PostgresStore)
        store.close()

    @pytest.mark.parametrize(
        "url",
        [
            "mysql://root:hunter2@db/emr",
            "sqlite://",
            "sqlite:///",
            "sqlite:relative.db",
            "memory://x",
            "hunter2",
            "",
        ],
    )
    def test_refused(self, url: str) -> None:
        """Unknown schemes and empty paths are ConfigurationErrors that do not repeat the URL."""
        with pytest.raises(ConfigurationError, match="expected memory://") as caught:
            open_store(url)
        assert "hunter2" not in str(caught.value)


class TestImports:
    """Optional drivers load only when their store is used."""

    def test_package_exports(self) -> None:
        """__all__ is sorted and every name resolves; unknown names raise AttributeError."""
        assert totpcore.store.__all__ == sorted(totpcore.store.__all__, key=lambda n: (not n.isupper(), n))
        for name in totpcore.store.__all__:
            assert getattr(totpcore.store, name) is not None
        assert dir(totpcore.store) == sorted(totpcore.store.__all__)
        with pytest.raises(AttributeError, match="NoSuchStore"):
            _ = totpcore.store.NoSuchStore

    def test_store_package_loads_no_driver(self) -> None:
        """Import totpcore.store, a MemoryStore and open_store("memory://") load neither driver."""
        probe = (
            "import sys, totpcore.store as s; s.MemoryStore(); s.open_store('memory://'); "
            "print(sorted(m for m in ('sqlite3', 'psycopg') if m in sys.modules))"
        )
        assert run_python(probe) == "[]"

    def test_sqlite_store_loads_only_sqlite3(self) -> None:
        """Touching SQLiteStore loads sqlite3 and still not psycopg."""
        probe = (
            "import sys, totpcore.store as s; s.SQLiteStore; "
            "print(sorted(m for m in ('sqlite3', 'psycopg') if m in sys.modules))"
        )
        assert run_python(probe) == "['sqlite3']"

    def test_missing_psycopg_names_the_extra(self) -> None:
        """Without psycopg, PostgresStore says which extra to install."""
        probe = (
            "import sys; sys.modules['psycopg'] = None\n"
            "import totpcore.store as s\n"
            "try:\n"
            "    s.open_store('postgresql://db/emr')\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
        )
        expected = "PostgresStore needs psycopg 3 and psycopg_pool: pip install 'totpcore[postgres]'"
        assert run_python(probe) == expected
