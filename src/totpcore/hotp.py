"""RFC 4226 HOTP: the HMAC-based one-time password and the keyed state both OTPs share."""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from totpcore._checks import (
    COUNTER_LIMIT,
    MAX_DIGITS,
    MIN_DIGITS,
    check_counter,
    check_digits,
    check_int,
    parse_code,
    parse_codes,
)
from totpcore.errors import InvalidCode
from totpcore.secret import Secret

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["HOTP", "Algorithm", "hotp", "truncate"]

_pack_counter: Final = struct.Struct(">Q").pack  # RFC 4226 §5.2: 8 bytes, high-order first
_unpack_word: Final = struct.Struct(">I").unpack_from
_IPAD: Final = bytes(b ^ 0x36 for b in range(256))  # RFC 2104 §2 inner and outer pads,
_OPAD: Final = bytes(b ^ 0x5C for b in range(256))  # as translation tables over key bytes

#: RFC 4226 §7.4: "s SHOULD be set as low as possible". The largest look-ahead accepted.
MAX_LOOK_AHEAD: Final = 1000


class Algorithm(enum.Enum):
    """The HMAC hash (RFC 6238 §1.2). SHA1 is the default and the only one every app honours."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"

    def __init__(self, value: str) -> None:
        # Kept on the member: a dict keyed by an Enum calls Enum.__hash__, written in
        # Python, and building an OTP is on every request's path.
        self._constructor: Callable[[bytes], _Hash] = getattr(hashlib, value.lower())
        #: The hash block size in bytes (RFC 2104 B).
        self.block_size: int = 128 if value == "SHA512" else 64
        #: The HMAC output size in bytes: 20, 32 or 64 (RFC 6238 §5.1: the recommended key size).
        self.digest_size: int = self._constructor(b"").digest_size


# The format string and modulus 10**digits of each code length.
_FORMATS: Final = {digits: (f"%0{digits}d", 10**digits) for digits in range(MIN_DIGITS, MAX_DIGITS + 1)}


def truncate(digest: bytes) -> int:
    """Return the 31-bit dynamic truncation of an HMAC value (RFC 4226 §5.3).

    The offset is the low 4 bits of the **last** byte of the digest, for every hash
    (RFC 6238 Appendix A), and the most significant bit of the word is masked.
    """
    (word,) = _unpack_word(digest, digest[-1] & 0x0F)
    return int(word & 0x7FFFFFFF)


class _KeyedOtp:
    """The keyed HMAC state of one secret, prepared once (RFC 2104 §2, precomputed pads).

    A code then costs two hash-state copies and two short updates: no key schedule,
    no base32 decoding, no allocation of a fresh HMAC object per code.
    """

    __slots__ = ("_algorithm", "_digits", "_format", "_inner", "_modulus", "_outer", "_secret")

    def __init__(self, secret: Secret, digits: int, algorithm: Algorithm) -> None:
        # Fast checks first: building an OTP per request is a hot path too.
        if not isinstance(secret, Secret):
            raise TypeError(
                f"secret must be a totpcore.Secret, not {type(secret).__name__}; "
                "wrap raw bytes with Secret(raw) or text with Secret.from_base32(text)"
            )
        if type(algorithm) is not Algorithm:
            raise TypeError(f"algorithm must be a totpcore.Algorithm, not {type(algorithm).__name__}")
        if type(digits) is not int or digits not in _FORMATS:
            check_digits(digits)  # raises the precise error
        self._secret = secret
        self._algorithm = algorithm
        self._digits = digits
        self._format, self._modulus = _FORMATS[digits]
        new, block_size = algorithm._constructor, algorithm.block_size  # noqa: SLF001
        key = secret._raw  # noqa: SLF001  # same package; bytes() costs a call per build
        if len(key) > block_size:  # RFC 2104 §2: keys longer than a block are hashed first
            key = new(key).digest()
        key = key.ljust(block_size, b"\0")
        self._inner = new(key.translate(_IPAD))
        self._outer = new(key.translate(_OPAD))

    @property
    def secret(self) -> Secret:
        """The shared secret."""
        return self._secret

    @property
    def digits(self) -> int:
        """The number of digits of a code."""
        return self._digits

    @property
    def algorithm(self) -> Algorithm:
        """The HMAC hash."""
        return self._algorithm

    def digest(self, counter: int) -> bytes:
        """Return HMAC(K, C) of RFC 4226 §5.2 step 1, for checking against test vectors.

        Treat it like a code: it is the value the code is cut from.

        Raises:
            TypeError, ConfigurationError: *counter* is not an int in [0, 2**64).
        """
        inner = self._inner.copy()
        inner.update(_pack_counter(check_counter(counter)))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def _code(self, counter: int) -> str:
        # The hot path: the counter is already checked. Same steps as digest() and
        # truncate(), inlined because every call costs a sizeable part of a code.
        inner = self._inner.copy()
        inner.update(_pack_counter(counter))
        outer = self._outer.copy()
        outer.update(inner.digest())
        mac = outer.digest()
        (word,) = _unpack_word(mac, mac[-1] & 0x0F)
        code: str = self._format % ((word & 0x7FFFFFFF) % self._modulus)
        return code

    def _scan(self, code: str, low: int, high: int) -> list[int]:
        """Return every counter in ``[low, high]`` whose code equals *code*, in order.

        Every candidate is computed and compared with ``hmac.compare_digest``; nothing
        is decided until the loop has finished, so the time taken does not depend on
        where, or whether, a match was found (CVE-2022-29185 class).
        """
        # _code() inlined: a verification is mostly this loop.
        compare = hmac.compare_digest
        inner, outer, fmt, modulus = self._inner, self._outer, self._format, self._modulus
        found = []
        for counter in range(low, high + 1):
            ih = inner.copy()
            ih.update(_pack_counter(counter))
            oh = outer.copy()
            oh.update(ih.digest())
            mac = oh.digest()
            (word,) = _unpack_word(mac, mac[-1] & 0x0F)
            if compare(fmt % ((word & 0x7FFFFFFF) % modulus), code):
                found.append(counter)
        return found

    def _runs(self, codes: list[str], first: int, last: int) -> list[int]:
        """Return every counter in ``[first, last]`` where the run of *codes* starts.

        The codes of the whole range are computed and every position compared before
        anything is decided, as in :meth:`_scan`.
        """
        compare = hmac.compare_digest
        computed = [self._code(c) for c in range(first, last + len(codes))]
        return [
            first + i
            for i in range(last - first + 1)
            # A list, not a generator: all() must not stop at the first mismatch.
            if all([compare(computed[i + k], code) for k, code in enumerate(codes)])  # noqa: C419
        ]


class HOTP(_KeyedOtp):
    """An HOTP generator and verifier for one secret (RFC 4226).

    Args:
        secret: the shared secret.
        digits: 6, 7 or 8 (RFC 4226 §5.3).
        algorithm: the HMAC hash; SHA1 unless both sides agree otherwise.

    Raises:
        TypeError: *secret* is not a :class:`Secret`, or another argument has a wrong type.
        ConfigurationError: *digits* is not 6, 7 or 8.
    """

    __slots__ = ()

    def __init__(self, secret: Secret, *, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1) -> None:
        super().__init__(secret, digits, algorithm)

    def __repr__(self) -> str:
        return f"HOTP(digits={self._digits}, algorithm={self._algorithm.name})"

    def at(self, counter: int) -> str:
        """Return the code for *counter* (RFC 4226 §5.3), leading zeros kept.

        Raises:
            TypeError, ConfigurationError: *counter* is not an int in [0, 2**64).
        """
        return self._code(check_counter(counter))

    def verify(self, code: str, counter: int, *, look_ahead: int = 0) -> int:
        """Return the counter in ``counter .. counter + look_ahead`` whose code is *code*.

        Counters behind *counter* are never accepted (RFC 4226 §7.2, Appendix E.4): the
        caller stores the returned counter + 1 as the next expected counter. When a chance
        collision matches several counters, the lowest is returned, which moves the
        counter the least.

        Raises:
            MalformedCode: *code* is not *digits* ASCII digits.
            InvalidCode: no counter in the look-ahead window matches.
            ConfigurationError: *counter* or *look_ahead* out of range.
        """
        expected = parse_code(code, self._digits)
        first = check_counter(counter)
        last = min(first + check_int("look_ahead", look_ahead, 0, MAX_LOOK_AHEAD), COUNTER_LIMIT - 1)
        matches = self._scan(expected, first, last)
        if not matches:
            raise InvalidCode("code does not match any counter in the look-ahead window")
        return matches[0]

    def resync(self, codes: list[str] | tuple[str, ...], counter: int, *, look_ahead: int = 100) -> int:
        """Find 2 to 10 consecutive *codes* at or after *counter* (RFC 4226 §7.4).

        The sequence must start within ``counter .. counter + look_ahead``. Returns the
        counter of the **last** code; the caller stores it + 1. Forging a run of
        consecutive codes is far harder than guessing one (RFC 4226 §7.4, E.3).
        *codes* is a ``list`` or ``tuple`` of at most
        :data:`totpcore.totp.MAX_RESYNC_CODES` (10) codes, checked before any work.

        Raises:
            MalformedCode: *codes* is not a list or tuple, holds more than 10 codes, or
                any code is not *digits* ASCII digits.
            InvalidCode: fewer than two codes, or no consecutive run in the window.
            ConfigurationError: *counter* or *look_ahead* out of range.
        """
        wanted = parse_codes(codes, self._digits)
        first = check_counter(counter)
        span = check_int("look_ahead", look_ahead, 0, MAX_LOOK_AHEAD)
        last = min(first + span, COUNTER_LIMIT - len(wanted))
        starts = self._runs(wanted, first, last)
        if not starts:
            raise InvalidCode("the codes are not consecutive codes in the resynchronisation window")
        return starts[0] + len(wanted) - 1


def hotp(secret: Secret, counter: int, *, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1) -> str:
    """Return the HOTP code of *secret* at *counter* (RFC 4226 §5.3).

    A one-off convenience; build an :class:`HOTP` to compute several codes.

    Raises:
        TypeError, ConfigurationError, SecretError: as :class:`HOTP` and :meth:`HOTP.at`.
    """
    return HOTP(secret, digits=digits, algorithm=algorithm).at(counter)
