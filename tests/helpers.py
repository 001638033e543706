"""Helpers shared by the test modules."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from totpcore import Algorithm

if TYPE_CHECKING:
    from hashlib import _Hash

TESTS = Path(__file__).parent
VECTORS = TESTS / "vectors"
DATA = TESTS / "data"

#: The hashlib constructor of each algorithm, for stdlib oracles and for pyotp's ``digest=``.
HASHLIB: dict[Algorithm, Callable[[], _Hash]] = {
    Algorithm.SHA1: hashlib.sha1,
    Algorithm.SHA256: hashlib.sha256,
    Algorithm.SHA512: hashlib.sha512,
}


def stdlib_hotp(key: bytes, counter: int, digits: int, algorithm: Algorithm) -> str:
    """An independent oracle: RFC 4226 §5.3 written with stdlib hmac, no shared code."""
    mac = hmac.new(key, struct.pack(">Q", counter), HASHLIB[algorithm]).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).rjust(digits, "0")


def load_records(path: Path) -> list[dict[str, str]]:
    """Parse a ``KEY = value`` record file (``#`` comments; ``COUNT`` opens a record).

    Deliberately independent of ``totpcore._selftest``, which is itself under test.
    """
    records: list[dict[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            if key == "COUNT":
                records.append({})
            records[-1][key] = value
    return records


def load_vectors(name: str) -> list[dict[str, str]]:
    """The RFC vector file ``tests/vectors/<name>``."""
    return load_records(VECTORS / name)


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose real component is missing, except under CI, where a green run must have used it."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs what these tests use: {reason}")
    pytest.skip(reason)


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple[object, ...]]:
    """Wrap ``owner.name`` (a function or method) to record each call's arguments; return the record."""
    calls: list[tuple[object, ...]] = []
    real = getattr(owner, name)

    def recorded(*args: object) -> object:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(owner, name, recorded)
    return calls
