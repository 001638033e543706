"""How close any code that keeps DESIGN.md's rules can come to the missed speed targets.

The experiment behind "How far the targets are" in docs/performance.md (run it alone with
``benchmarks/run.py --only ceiling``). Against pyotp, in the same run, it times stand-ins
that do only the work the rules require and nothing else: no argument checks, no parsing,
no replay rule, no object. Every HMAC is computed on hash states prepared with the same hashlib calls
totpcore uses, and every line is inlined, so a real implementation can only be slower.

* bare verify: three candidates, each an HMAC, the RFC 4226 truncation, formatting and
  ``hmac.compare_digest`` (the rules of DESIGN.md section 3: every candidate compared in
  constant time, never ``int()`` on a code), then ``raise InvalidCode`` (a verifier
  raises, it never returns ``bool``).
* bare build + verify: the same, with the two pad states of RFC 2104 prepared first.
* bare build + one code: the two pad states and one HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable

import pyotp

from harness import Row, compare
from totpcore import TOTP, InvalidCode, Secret

KEY = bytes(range(20))
T = 1_700_000_000
WRONG = "000000"  # checked below: not a code of the window at T
_PACK = struct.Struct(">Q").pack
_UNPACK = struct.Struct(">I").unpack_from
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_SIX_DIGITS = "%06d"  # what totpcore formats a 6-digit code with


def bare_code(key: bytes, t: int) -> str:
    """Prepare both pad states of *key* and return the 6-digit SHA1 code at *t*."""
    padded = key.ljust(64, b"\0")
    inner = hashlib.sha1(padded.translate(_IPAD))  # noqa: S324  # RFC 6238's default HMAC-SHA1
    outer = hashlib.sha1(padded.translate(_OPAD))  # noqa: S324
    ih = inner.copy()  # a reusable object copies its states; so does this bound
    ih.update(_PACK(t // 30))
    oh = outer.copy()
    oh.update(ih.digest())
    mac = oh.digest()
    (word,) = _UNPACK(mac, mac[-1] & 0x0F)
    code: str = _SIX_DIGITS % ((word & 0x7FFFFFFF) % 1_000_000)
    return code


def bare_verifier(key: bytes) -> Callable[[str, int], int]:
    """Return a Window(1, 1) verifier of *key* that does nothing but the required work."""
    padded = key.ljust(64, b"\0")
    inner = hashlib.sha1(padded.translate(_IPAD))  # noqa: S324  # RFC 6238's default HMAC-SHA1
    outer = hashlib.sha1(padded.translate(_OPAD))  # noqa: S324
    compare_digest = hmac.compare_digest

    def verify(code: str, t: int) -> int:
        now = t // 30
        found = []
        for step in range(now - 1, now + 2):
            ih = inner.copy()
            ih.update(_PACK(step))
            oh = outer.copy()
            oh.update(ih.digest())
            mac = oh.digest()
            (word,) = _UNPACK(mac, mac[-1] & 0x0F)
            if compare_digest(_SIX_DIGITS % ((word & 0x7FFFFFFF) % 1_000_000), code):
                found.append(step)
        if not found:
            raise InvalidCode("code does not match any step in the window")
        return found[0]

    return verify


def rows(scale: float) -> list[Row]:
    """Time the bounds against the pyotp calls of the missed targets."""
    secret = Secret(KEY)
    ours = TOTP(secret)
    peer = pyotp.TOTP(secret.to_base32())
    bare_verify = bare_verifier(KEY)
    assert bare_code(KEY, T) == ours.at(T) == peer.at(T)
    assert WRONG not in {ours.at(T + d) for d in (-30, 0, 30)}

    # Written out like bench_verify's closures: no wrapper call to slow the bound down.
    def verify() -> None:
        try:
            bare_verify(WRONG, T)
        except InvalidCode:
            return
        raise AssertionError

    def build_and_verify() -> None:
        try:
            bare_verifier(KEY)(WRONG, T)
        except InvalidCode:
            return
        raise AssertionError

    def peer_verify() -> None:
        if peer.verify(WRONG, for_time=T, valid_window=1):
            raise AssertionError

    cases: list[tuple[str, Callable[[], object], str, Callable[[], object]]] = [
        ("bound: bare verify(wrong)", verify, "pyotp verify(valid_window=1)", peer_verify),
        ("bound: bare build + verify(wrong)", build_and_verify, "pyotp verify(valid_window=1)", peer_verify),
        ("bound: bare build + one code", lambda: bare_code(KEY, T), "pyotp TOTP.at", lambda: peer.at(T)),
    ]
    n = max(int(20_000 * scale), 500)
    return [compare(*case, target=None, number=n, rounds=9) for case in cases]
