"""Recovery codes: one login attempt against 5 codes, one KDF call versus one per code (issue 5).

The baseline is assembled here from totpcore's own Argon2id evaluation: the same parameters
(OWASP defaults), the same associated data, but a salt per code, so that checking a
submitted code means one Argon2id evaluation per stored code. Both sides are timed on a
wrong code, the attempt an attacker controls: the baseline cannot stop early there.
"""

from __future__ import annotations

import hmac
import secrets

from harness import Row, alone, compare
from totpcore import InvalidCode
from totpcore.recovery import (
    DEFAULT_PARAMS,
    SALT_BYTES,
    CodeSetParams,
    _derive,
    generate_codes,
    hash_codes,
    match_code,
)

CONTEXT = b"user-42"
AD = b"totpcore recovery code v1\x00" + CONTEXT


def _per_code_digest(body: str, salt: bytes) -> bytes:
    """The library's own Argon2id evaluation, with a salt of the code's own."""
    return _derive(body, CodeSetParams(DEFAULT_PARAMS, len(body), salt), AD)


def _per_code_hash(codes: list[str]) -> list[tuple[bytes, bytes]]:
    """The baseline's stored form: a (salt, digest) record per code."""
    records = []
    for code in codes:
        salt = secrets.token_bytes(SALT_BYTES)
        records.append((salt, _per_code_digest(code.replace("-", ""), salt)))
    return records


def _per_code_match(code: str, records: list[tuple[bytes, bytes]]) -> int | None:
    """The baseline's check: each record has its own salt, so each costs an Argon2id call."""
    body = code.replace("-", "").upper()
    hits = [
        i
        for i, (salt, digest) in enumerate(records)
        if hmac.compare_digest(_per_code_digest(body, salt), digest)
    ]
    return hits[0] if hits else None


def _wrong(codes: list[str]) -> str:
    """A well-formed code outside *codes*."""
    while True:
        (candidate,) = generate_codes(1)
        if candidate not in codes:
            return candidate


def rows(scale: float) -> list[Row]:
    """Time one wrong attempt against 5 codes: totpcore's per-set salt against a per-code salt."""
    codes = generate_codes(5)
    wrong = _wrong(codes)
    hashed = hash_codes(codes, context=CONTEXT)
    unused = list(enumerate(hashed.digests))
    records = _per_code_hash(codes)
    assert match_code(codes[4], hashed.params, unused, context=CONTEXT).index == 4
    assert _per_code_match(codes[4], records) == 4
    assert _per_code_match(wrong, records) is None

    def ours() -> None:
        try:
            match_code(wrong, hashed.params, unused, context=CONTEXT)
        except InvalidCode:
            return
        raise AssertionError

    def theirs() -> None:
        if _per_code_match(wrong, records) is not None:
            raise AssertionError

    n, r = max(int(4 * scale), 1), 5
    return [
        compare(
            "match_code(wrong), 5 codes, OWASP Argon2id",
            ours,
            "per-code salt: 5 Argon2id calls",
            theirs,
            target=None,
            number=n,
            rounds=r,
        ),
        alone(
            "hash_codes(5 codes)  (enrolment: 5 calls)",
            lambda: hash_codes(codes, context=CONTEXT),
            number=n,
            rounds=r,
        ),
    ]
