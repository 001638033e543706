"""How close any code that keeps the library's rules can come to the missed speed targets.

The experiment behind "How far the targets are" in docs/performance.md (run it alone with
``benchmarks/run.py --only ceiling``). Against pyotp, in the same run, it times stand-ins
that do only the work the rules require and nothing else: bare functions (no argument
checks, no parsing, no replay rule, no object) and the smallest checked object. Every HMAC
is computed on hash states prepared with the same hashlib calls totpcore uses, and every
line is inlined, so a real implementation can only be slower.

* bare verify: three candidates, each an HMAC, the RFC 4226 truncation, formatting and
  ``hmac.compare_digest`` (the rules of docs/design.md, "Rules the code keeps": every candidate compared in
  constant time, never ``int()`` on a code), then ``raise InvalidCode`` (a verifier
  raises, it never returns ``bool``).
* bare build + verify: the same, with the two pad states of RFC 2104 prepared first.
* bare build + one code: the two pad states and one HMAC.
* object build + one code: the same inside the smallest object the pinned signature
  ``TOTP(secret, *, digits, period, algorithm, t0)`` allows: any algorithm, digits, period
  and t0, and only the checks issue 2 demands (types and ranges of the arguments and of the
  time), each as one fast-path test; the key setup and the HMAC inlined into
  ``__init__`` and ``at``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable

import pyotp

from harness import Row, compare, micro_rounds
from totpcore import TOTP, Algorithm, InvalidCode, Secret
from totpcore._checks import COUNTER_LIMIT
from totpcore.hotp import _FORMATS
from totpcore.totp import MAX_PERIOD

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


class ObjectBound:
    """The smallest checked TOTP object: every line inlined, one test per fast path."""

    __slots__ = ("_format", "_inner", "_modulus", "_outer", "_period", "_t0")

    def __init__(
        self,
        secret: Secret,
        *,
        digits: int = 6,
        period: int = 30,
        algorithm: Algorithm = Algorithm.SHA1,
        t0: int = 0,
    ) -> None:
        if (
            type(secret) is not Secret
            or type(algorithm) is not Algorithm
            or type(digits) is not int
            or type(period) is not int
            or type(t0) is not int
            or digits not in _FORMATS
            or not (1 <= period <= MAX_PERIOD and 0 <= t0 < COUNTER_LIMIT)
        ):
            raise TypeError  # a real API explains which argument, off the fast path
        self._format, self._modulus = _FORMATS[digits]
        new, block_size = algorithm._constructor, algorithm.block_size  # noqa: SLF001
        key = secret._raw  # noqa: SLF001
        if len(key) > block_size:
            key = new(key).digest()
        key = key.ljust(block_size, b"\0")
        self._inner = new(key.translate(_IPAD))
        self._outer = new(key.translate(_OPAD))
        self._period = period
        self._t0 = t0

    def at(self, t: int) -> str:
        """Return the code at *t*, an int (floats and datetimes would take a slower path)."""
        if type(t) is not int:
            raise TypeError
        step = (t - self._t0) // self._period
        if not 0 <= step < COUNTER_LIMIT:
            raise ValueError
        ih = self._inner.copy()
        ih.update(_PACK(step))
        oh = self._outer.copy()
        oh.update(ih.digest())
        mac = oh.digest()
        (word,) = _UNPACK(mac, mac[-1] & 0x0F)
        code: str = self._format % ((word & 0x7FFFFFFF) % self._modulus)
        return code


def rows(scale: float) -> list[Row]:
    """Time the bounds against the pyotp calls of the missed targets."""
    secret = Secret(KEY)
    ours = TOTP(secret)
    peer = pyotp.TOTP(secret.to_base32())
    bare_verify = bare_verifier(KEY)
    assert bare_code(KEY, T) == ObjectBound(secret).at(T) == ours.at(T) == peer.at(T)
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

    def build_object_and_code() -> str:
        return ObjectBound(secret).at(T)

    cases: list[tuple[str, Callable[[], object], str, Callable[[], object]]] = [
        ("bound: bare verify(wrong)", verify, "pyotp verify(valid_window=1)", peer_verify),
        ("bound: bare build + verify(wrong)", build_and_verify, "pyotp verify(valid_window=1)", peer_verify),
        ("bound: bare build + one code", lambda: bare_code(KEY, T), "pyotp TOTP.at", lambda: peer.at(T)),
        ("bound: object build + one code", build_object_and_code, "pyotp TOTP.at", lambda: peer.at(T)),
    ]
    rounds = micro_rounds(scale)
    return [compare(*case, target=None, rounds=rounds) for case in cases]
