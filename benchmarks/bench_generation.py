"""Code generation: TOTP.at, and building a TOTP from a Secret plus one code (issues 2 and 15).

The targets are those of issue 15 part 5: what an object that keeps the rules reaches
on CPython (docs/performance.md, "How far the targets are"), so that ``--check``
passes on a healthy build and fails on a regression.
"""

from __future__ import annotations

import pyotp
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import totp as cryptography_totp

from harness import Row, compare, micro_rounds
from totpcore import TOTP, Secret

KEY = bytes(range(20))
T = 1_700_000_000


def rows(scale: float) -> list[Row]:
    """Time generation against pyotp and cryptography."""
    secret = Secret(KEY)
    ours = TOTP(secret)
    peer = pyotp.TOTP(secret.to_base32())
    theirs = cryptography_totp.TOTP(KEY, 6, SHA1(), 30, enforce_key_length=True)  # noqa: S303  # RFC 6238 default
    assert ours.at(T) == peer.at(T) == theirs.generate(T).decode()
    r = micro_rounds(scale)
    return [
        compare(
            "TOTP.at(t)",
            lambda: ours.at(T),
            "pyotp TOTP.at",
            lambda: peer.at(T),
            target=5,
            rounds=r,
        ),
        compare(
            "TOTP.at(t)",
            lambda: ours.at(T),
            "cryptography TOTP.generate",
            lambda: theirs.generate(T),
            target=2,
            rounds=r,
        ),
        compare(
            "TOTP(secret).at(t)  (build + one code)",
            lambda: TOTP(secret).at(T),
            "pyotp TOTP.at",
            lambda: peer.at(T),
            target=2.8,
            rounds=r,
        ),
    ]
