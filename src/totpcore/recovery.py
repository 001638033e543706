"""One-time recovery codes: generation, normalisation, Argon2id hashing, single-KDF matching.

Requirements RC-1 to RC-9 of ``docs/conformance.md``; ``docs/security.md`` states the
choices below against NIST SP 800-63B and OWASP ASVS.

The flow a caller (the MFA service) follows:

1. ``codes = generate_codes()`` and ``hashed = hash_codes(codes, context=user_id.encode())``;
   the store keeps ``hashed.params`` (one string per set) and ``enumerate(hashed.digests)``;
   the plaintext *codes* are shown to the user once and never kept.
2. At login, after throttling: ``match_code(text, params, unused_pairs, context=...)``
   returns a :class:`RecoveryMatch` naming the one pair to consume, atomically, in the store.

One salt per generated **set**, recorded in the parameter string, lets a login attempt cost
exactly one Argon2id evaluation whatever the number of codes: the submitted code is hashed
once and the result compared with every unused digest. The *context* (the user id) enters
Argon2id as associated data, so a digest copied into another user's row never matches.

Pure: no I/O, no clock, no logging. No plaintext code appears in a return value (other
than :func:`generate_codes`), a ``repr`` or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from totpcore._checks import check_int, type_error
from totpcore.errors import ConfigurationError, InvalidCode, MalformedCode

__all__ = [
    "ALPHABET",
    "DEFAULT_BITS",
    "DEFAULT_COUNT",
    "DEFAULT_PARAMS",
    "DIGEST_BYTES",
    "MAX_BITS",
    "MAX_COUNT",
    "MIN_BITS",
    "SALT_BYTES",
    "SCHEME",
    "SEALED_SCHEME",
    "UNSEALED_PREFIX",
    "Argon2Params",
    "CodeSetParams",
    "HashedCodes",
    "RecoveryMatch",
    "check_stored",
    "generate_codes",
    "hash_codes",
    "is_well_formed",
    "match_code",
    "needs_rehash",
    "normalize",
]

#: Crockford base32: digits and upper-case letters without I, L, O and U.
ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: The user is shown 5 codes at enrolment (``docs/security.md``, recovery codes).
DEFAULT_COUNT: Final = 5
MAX_COUNT: Final = 20
#: 16 Crockford characters, shown as XXXX-XXXX-XXXX-XXXX.
DEFAULT_BITS: Final = 80
#: NIST SP 800-63B-4 §4.2.1.1: a saved recovery code "SHALL include at least 64 bits".
MIN_BITS: Final = 64
MAX_BITS: Final = 160
#: The scheme named at the start of every parameter string. "rc1" is the construction
#: (input, associated data, tag length); a different construction gets a new name.
SCHEME: Final = "totpcore-rc1-argon2id"
#: The same construction, with each stored digest sealed by the verifier under a key the
#: database does not hold (NIST SP 800-63B §5.1.1.2: a secret salt known only to the
#: verifier). This module derives and compares; the caller seals and unseals
#: (:class:`totpcore.MfaService` does it with its key ring).
SEALED_SCHEME: Final = "totpcore-rc2-argon2id"
#: How every parameter string of a set stored unsealed (:data:`SCHEME`) begins.
UNSEALED_PREFIX: Final = f"${SCHEME}$"
#: RFC 9106 §4 recommends a 256-bit tag.
DIGEST_BYTES: Final = 32
#: RFC 9106 §4 recommends a 128-bit salt; NIST SP 800-63B §5.1.2.2 asks for at least 32 bits.
SALT_BYTES: Final = 16

#: Upper bounds on costs, so that a tampered parameter string cannot make one login
#: attempt allocate gigabytes or run for minutes.
MAX_MEMORY_KIB: Final = 1 << 20
MAX_ITERATIONS: Final = 32
MAX_LANES: Final = 16
MAX_CONTEXT_BYTES: Final = 1024

_ARGON2_VERSION: Final = 19  # 0x13, the only version cryptography implements (RFC 9106 §3.1)
_GROUP: Final = 4
_MIN_LENGTH: Final = -(-MIN_BITS // 5)
_MAX_LENGTH: Final = -(-MAX_BITS // 5)
_SALT_RANGE: Final = (SALT_BYTES, 64)
_MAX_PARAMS_CHARS: Final = 256
# Longer input is refused before any processing; a grouped 160-bit code is 39 characters.
_MAX_INPUT: Final = 128
# Argon2id associated data = this label + the caller's context: the label separates these
# digests from any other Argon2id use of the same context.
_AD_LABEL: Final = b"totpcore recovery code v1\x00"

# Crockford aliases (O is zero, I and L are one) and the separators users type.
_ALIASES: Final = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None})
_CROCKFORD: Final = re.compile(r"[0-9A-HJKMNP-TV-Z]*")
# ASCII digits only (\d would accept other scripts), no leading zeros: one spelling per value.
_NUMBER: Final = r"(0|[1-9][0-9]{0,9})"
_COSTS: Final = re.compile(rf"m={_NUMBER},t={_NUMBER},p={_NUMBER},c={_NUMBER}")
_B64: Final = re.compile(r"[A-Za-z0-9+/]+")


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Argon2id cost parameters (RFC 9106 §3.1): memory in KiB, passes and lanes.

    The defaults are the OWASP Password Storage Cheat Sheet minimum, also listed in
    OWASP ASVS 5.0 Appendix C: 19 MiB (19456 KiB), 2 iterations, 1 lane. The cheat sheet's
    equivalent settings (47104/1/1, 12288/3/1, 9216/4/1, 7168/5/1) are accepted as well.

    Lower costs are accepted: recovery codes are random, and NIST SP 800-63B-4 §3.1.2.2
    says the work factor "MAY be small" for them. :func:`needs_rehash` reports a stored set
    made with weaker parameters than the current ones.

    Raises:
        TypeError: a field is not an ``int``.
        ConfigurationError: *lanes* outside 1 to 16, *iterations* outside 1 to 32, or
            *memory_kib* below ``8 * lanes`` (RFC 9106 §3.1) or above 1 GiB.
    """

    memory_kib: int = 19456
    iterations: int = 2
    lanes: int = 1

    def __post_init__(self) -> None:
        check_int("lanes", self.lanes, 1, MAX_LANES)
        check_int("iterations", self.iterations, 1, MAX_ITERATIONS)
        check_int("memory_kib", self.memory_kib, 8 * self.lanes, MAX_MEMORY_KIB)


#: OWASP's minimum Argon2id configuration: m=19456 KiB, t=2, p=1.
DEFAULT_PARAMS: Final = Argon2Params()


@dataclass(frozen=True, slots=True)
class CodeSetParams:
    """What the parameter string of one generated set records (none of it is secret).

    The string form, from :meth:`encode`, follows the PHC string layout::

        $totpcore-rc1-argon2id$v=19$m=19456,t=2,p=1,c=16$<salt, base64 without padding>

    ``v`` is the Argon2 version (0x13), ``m``/``t``/``p`` the :class:`Argon2Params`,
    ``c`` the number of characters of a normalised code, and the salt is shared by every
    code of the set (one per set, from :mod:`secrets`). With *sealed*, the scheme is
    :data:`SEALED_SCHEME`: the stored digests are sealed by the verifier.

    Raises:
        TypeError: a field has the wrong type.
        ConfigurationError: *length* outside 13 to 32 characters (64 to 160 bits) or a
            salt outside 16 to 64 bytes.
    """

    argon2: Argon2Params
    length: int
    salt: bytes
    sealed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.argon2, Argon2Params):
            type_error("argon2", "an Argon2Params", self.argon2)
        check_int("length", self.length, _MIN_LENGTH, _MAX_LENGTH)
        if type(self.salt) is not bytes:
            type_error("salt", "bytes", self.salt)
        low, high = _SALT_RANGE
        if not low <= len(self.salt) <= high:
            raise ConfigurationError(f"the salt is {len(self.salt)} bytes; expected {low} to {high}")

    def encode(self) -> str:
        """Return the self-describing parameter string that the store keeps with the set."""
        cost = self.argon2
        salt = base64.b64encode(self.salt).decode("ascii").rstrip("=")
        return (
            f"${SEALED_SCHEME if self.sealed else SCHEME}$v={_ARGON2_VERSION}"
            f"$m={cost.memory_kib},t={cost.iterations},p={cost.lanes},c={self.length}${salt}"
        )

    @classmethod
    def parse(cls, text: str) -> CodeSetParams:
        """Read a parameter string written by :meth:`encode`.

        Only the exact form :meth:`encode` writes is accepted: fields in order, no leading
        zeros, canonical unpadded base64. A string that parses but was altered (another
        salt, another cost) is not detectable here; it makes every code fail to match.

        Raises:
            TypeError: *text* is not a ``str``.
            ConfigurationError: another scheme, another Argon2 version, a malformed or
                out-of-range field, or a salt that is not canonical base64 of 16 to 64 bytes.
        """
        if not isinstance(text, str):
            type_error("the parameter string", "a str", text)
        parts = text.split("$") if len(text) <= _MAX_PARAMS_CHARS else []
        if len(parts) != 5 or parts[0]:
            raise ConfigurationError(f"not a recovery-code parameter string: expected ${SCHEME}$v=19$...")
        _, scheme, version, costs, salt_text = parts
        if scheme not in (SCHEME, SEALED_SCHEME):
            raise ConfigurationError(
                f"unknown recovery-code scheme {scheme[:32]!r}: this version of totpcore reads "
                f"{SCHEME!r} and {SEALED_SCHEME!r}"
            )
        if version != f"v={_ARGON2_VERSION}":
            raise ConfigurationError(f"unsupported Argon2 version {version[:16]!r}: expected 'v=19'")
        fields = _COSTS.fullmatch(costs)
        if fields is None:
            raise ConfigurationError(
                "malformed costs in the parameter string: expected m=<KiB>,t=<n>,p=<n>,c=<n>"
            )
        memory, iterations, lanes, length = (int(value) for value in fields.groups())
        return cls(
            Argon2Params(memory, iterations, lanes), length, _decode_salt(salt_text), scheme == SEALED_SCHEME
        )


@dataclass(frozen=True, slots=True)
class HashedCodes:
    """The storable form of a generated set: no plaintext code is in it.

    Attributes:
        params: the parameter string (:class:`CodeSetParams`), one per set.
        digests: one 32-byte Argon2id digest per code, in the order of the codes, so
            that code *i* of :func:`generate_codes` is stored as ``(i, digests[i])``.
    """

    params: str
    digests: tuple[bytes, ...]

    def __repr__(self) -> str:
        return f"HashedCodes(params={self.params!r}, digests=<{len(self.digests)} x {DIGEST_BYTES} bytes>)"


@dataclass(frozen=True, slots=True)
class RecoveryMatch:
    """The unused code that matched: the store consumes exactly this pair, atomically.

    Attributes:
        index: the code's position in the generated set (0 to count - 1).
        digest: its stored digest, for a ``DELETE ... WHERE index = ? AND digest = ?``.
    """

    index: int
    digest: bytes

    def __repr__(self) -> str:
        return f"RecoveryMatch(index={self.index})"


def generate_codes(count: int = DEFAULT_COUNT, bits: int = DEFAULT_BITS) -> list[str]:
    """Return *count* distinct new recovery codes of at least *bits* bits each.

    Characters are drawn from :mod:`secrets` (NIST SP 800-63B §5.1.2.1: an approved random
    bit generator), 5 bits each from the Crockford alphabet, so *bits* is rounded up to a
    whole character: 80 bits is 16 characters, 64 is 13 (65 bits), 128 is 26 (130 bits).
    Codes are grouped by 4 with hyphens: ``XXXX-XXXX-XXXX-XXXX``. Show them once; keep
    only :func:`hash_codes` of them.

    Raises:
        TypeError: *count* or *bits* is not an ``int``.
        ConfigurationError: *count* outside 1 to 20, or *bits* below 64 (NIST SP
            800-63B-4 §4.2.1.1) or above 160.
    """
    check_int("count", count, 1, MAX_COUNT)
    length = _length_for(bits)
    bodies: list[str] = []
    while len(bodies) < count:
        value = secrets.randbits(5 * length)
        body = "".join(ALPHABET[(value >> shift) & 31] for shift in range(5 * (length - 1), -1, -5))
        # A repeat is a 2**-80 event; drawing again keeps every match unambiguous.
        if body not in bodies:
            bodies.append(body)
    return ["-".join(body[i : i + _GROUP] for i in range(0, length, _GROUP)) for body in bodies]


def normalize(text: str, *, bits: int = DEFAULT_BITS) -> str:
    """Return *text* as the compact, canonical form of a code of *bits* bits.

    Case is ignored, spaces and hyphens are dropped, and the Crockford aliases are read
    as the digits they resemble: ``O`` as ``0``, ``I`` and ``L`` as ``1``. Nothing else is
    forgiven, so every accepted input has one meaning.

    Raises:
        MalformedCode: not a ``str``, a character outside ASCII letters, digits, space and
            hyphen, the letter ``U``, or a length other than ``ceil(bits / 5)``
            characters. The message never repeats the input.
        TypeError, ConfigurationError: *bits* as in :func:`generate_codes`.
    """
    return _normalise(text, _length_for(bits))


def hash_codes(
    codes: Iterable[str], *, params: Argon2Params = DEFAULT_PARAMS, context: bytes, sealed: bool = False
) -> HashedCodes:
    """Hash a generated set for storage: one new salt for the set, one digest per code.

    Costs one Argon2id evaluation per code. *context* binds the digests to their owner
    (it is Argon2id associated data): pass the same bytes, typically ``user_id.encode()``,
    to :func:`match_code`. Codes are normalised first, so grouped or compact forms hash
    alike. With *sealed*, the parameter string names :data:`SEALED_SCHEME`, a promise
    that the caller seals each digest before storing it (and unseals it before
    :func:`match_code`).

    Raises:
        TypeError: *codes* is a single ``str`` or not iterable, *params* is not an
            :class:`Argon2Params`, or *context* is not ``bytes``.
        ConfigurationError: fewer than 1 or more than 20 codes; a code that is not a
            recovery code, codes of different lengths or a repeated code; an empty
            *context* or one longer than 1024 bytes.
    """
    if not isinstance(params, Argon2Params):
        type_error("params", "an Argon2Params", params)
    ad = _associated_data(context)
    if isinstance(codes, str) or not isinstance(codes, Iterable):
        type_error("codes", "a list of recovery codes", codes)
    bodies = [_set_member(position, code) for position, code in enumerate(codes, start=1)]
    check_int("the number of codes", len(bodies), 1, MAX_COUNT)
    lengths = {len(body) for body in bodies}
    if len(lengths) != 1:
        raise ConfigurationError("the codes of one set must all have the same length")
    (length,) = lengths
    if not _MIN_LENGTH <= length <= _MAX_LENGTH:
        raise ConfigurationError(
            f"codes of {length} characters are not {MIN_BITS} to {MAX_BITS}-bit recovery codes"
        )
    if len(set(bodies)) != len(bodies):
        raise ConfigurationError("the set repeats a code; generate_codes() never does")
    shape = CodeSetParams(params, length, secrets.token_bytes(SALT_BYTES), sealed=sealed)
    return HashedCodes(shape.encode(), tuple(_derive(body, shape, ad) for body in bodies))


def match_code(
    text: str, params: str, unused: Iterable[tuple[int, bytes]], *, context: bytes
) -> RecoveryMatch:
    """Return the unused code of the set that *text* is, at the cost of one Argon2id call.

    Everything cheap is checked first: the parameter string, the input (normalised as
    :func:`normalize`), the context and the stored pairs. Then *text* is hashed once with
    the set's salt and compared with **every** unused digest by ``hmac.compare_digest``,
    without stopping at a match. The Argon2id call happens even when no code is left, so
    the time taken does not tell how many codes remain.

    The caller throttles before calling (NIST SP 800-63B-4 §4.2.1.1) and then consumes
    the returned pair in one atomic store operation; two concurrent uses of one code must
    succeed once (``docs/design.md``, "Atomic operations and lock order").

    Args:
        text: what the user typed.
        params: the set's parameter string, as stored from :attr:`HashedCodes.params`.
        unused: the ``(index, digest)`` pairs still unused, in any order.
        context: the bytes given to :func:`hash_codes` for this user.

    Raises:
        MalformedCode: *text* is not a well-formed code of the set's length. No Argon2id
            evaluation happens.
        InvalidCode: well formed, but no unused code matches (a wrong code, a used code,
            or another user's context).
        TypeError: *params*, *unused* or *context* has the wrong type.
        ConfigurationError: the parameter string is unreadable (see
            :meth:`CodeSetParams.parse`), a stored pair is malformed (index outside 0 to 19,
            a repeated index, a digest that is not 32 bytes), or *context* is out of range.
    """
    shape = CodeSetParams.parse(params)
    body = _normalise(text, shape.length)
    ad = _associated_data(context)
    pairs = _stored_pairs(unused)
    derived = _derive(body, shape, ad)
    # A list, not any(): every digest is compared, wherever the match is.
    hits = [(index, digest) for index, digest in pairs if hmac.compare_digest(derived, digest)]
    if not hits:
        raise InvalidCode("the recovery code matches no unused code of this user")
    index, digest = min(hits)
    return RecoveryMatch(index, digest)


def check_stored(params: str, unused: Iterable[tuple[int, bytes]]) -> CodeSetParams:
    """Check a stored set as :func:`match_code` will, without hashing anything; return its parameters.

    Lets a caller refuse an unreadable set before it counts an attempt or spends a KDF.

    Raises:
        TypeError, ConfigurationError: as :func:`match_code` for *params* and *unused*.
    """
    shape = CodeSetParams.parse(params)
    _stored_pairs(unused)
    return shape


def is_well_formed(text: object) -> bool:
    """Whether *text* has the shape of a recovery code of some allowed length (64 to 160 bits).

    Cheap and without a KDF: a caller can tell "not a recovery code at all" from "a code
    worth checking" before it spends an Argon2id evaluation. :func:`match_code` still
    checks the exact length of the user's set.
    """
    try:
        body = _clean(text)
    except MalformedCode:
        return False
    return _MIN_LENGTH <= len(body) <= _MAX_LENGTH


def needs_rehash(params: str, current: Argon2Params = DEFAULT_PARAMS) -> bool:
    """Whether a stored set was hashed with less memory or fewer iterations than *current*.

    A recovery code cannot be rehashed in place (only its digest is kept, and a used code
    is gone): when this returns ``True``, ask the user to regenerate the set. A different
    lane count alone is not weaker and does not count.

    Raises:
        TypeError, ConfigurationError: as :meth:`CodeSetParams.parse`, and *current* is
            not an :class:`Argon2Params`.
    """
    if not isinstance(current, Argon2Params):
        type_error("current", "an Argon2Params", current)
    stored = CodeSetParams.parse(params).argon2
    return stored.memory_kib < current.memory_kib or stored.iterations < current.iterations


def _length_for(bits: object) -> int:
    """Return the Crockford characters needed for *bits* bits (5 bits each, rounded up)."""
    if type(bits) is not int:
        type_error("bits", "an int", bits)
    if bits < MIN_BITS:
        raise ConfigurationError(
            f"bits={bits}: a recovery code needs at least {MIN_BITS} bits (NIST SP 800-63B-4 §4.2.1.1)"
        )
    check_int("bits", bits, MIN_BITS, MAX_BITS)
    return -(-bits // 5)


def _clean(text: object) -> str:
    """Return *text* upper-cased, without separators, aliases resolved, or raise MalformedCode."""
    if not isinstance(text, str):
        raise MalformedCode(f"a recovery code is a str, not {type(text).__name__}")
    # ASCII first: str.upper() maps some other letters onto ASCII ones (dotless i to I, long s to S).
    if len(text) > _MAX_INPUT or not text.isascii():
        raise MalformedCode("a recovery code is ASCII letters and digits, grouped by hyphens or spaces")
    body = text.upper().translate(_ALIASES)
    if _CROCKFORD.fullmatch(body) is None:
        raise MalformedCode("a recovery code uses the digits and the letters A-Z except U (Crockford base32)")
    return body


def _set_member(position: int, code: object) -> str:
    """Return a code of a set being hashed, cleaned; a bad one is the caller's mistake."""
    try:
        return _clean(code)
    except MalformedCode as exc:
        raise ConfigurationError(f"code {position} of the set is not a recovery code: {exc}") from None


def _normalise(text: object, length: int) -> str:
    body = _clean(text)
    if len(body) != length:
        raise MalformedCode(f"a recovery code has {length} characters (hyphens and spaces are ignored)")
    return body


def _associated_data(context: object) -> bytes:
    if type(context) is not bytes:
        type_error("context", "bytes, for example user_id.encode()", context)
    if not 1 <= len(context) <= MAX_CONTEXT_BYTES:
        raise ConfigurationError(
            f"context is {len(context)} bytes; expected 1 to {MAX_CONTEXT_BYTES} (it binds digests to a user)"
        )
    return _AD_LABEL + context


def _stored_pairs(unused: object) -> list[tuple[int, bytes]]:
    if isinstance(unused, (str, bytes)) or not isinstance(unused, Iterable):
        type_error("unused", "an iterable of (index, digest) pairs", unused)
    pairs: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    for pair in unused:
        try:
            index, digest = pair
        except (TypeError, ValueError):
            type_error("each stored pair", "an (index, digest) pair", pair)
        check_int("a stored index", index, 0, MAX_COUNT - 1)
        if type(digest) is not bytes:
            type_error("a stored digest", "bytes", digest)
        if len(digest) != DIGEST_BYTES:
            raise ConfigurationError(
                f"the stored digest of code {index} is {len(digest)} bytes, not {DIGEST_BYTES}"
            )
        if index in seen:
            raise ConfigurationError(f"code {index} appears twice among the stored pairs")
        seen.add(index)
        pairs.append((index, digest))
    return pairs


def _decode_salt(text: str) -> bytes:
    try:
        # validate=True refuses characters outside the alphabet; the padding is ours.
        salt = base64.b64decode(text + "=" * (-len(text) % 4), validate=True) if _B64.fullmatch(text) else b""
    except binascii.Error:
        salt = b""
    # One spelling per salt: unused low bits must be zero, as encode() writes them.
    if not salt or base64.b64encode(salt).decode("ascii").rstrip("=") != text:
        raise ConfigurationError("the salt of the parameter string is not canonical unpadded base64")
    return salt


def _derive(body: str, shape: CodeSetParams, ad: bytes) -> bytes:
    """The one Argon2id evaluation (RFC 9106): the normalised code, the set's salt and costs.

    Raises:
        cryptography.exceptions.UnsupportedAlgorithm: cryptography was built against an
            OpenSSL older than 3.2, which lacks Argon2 (the published wheels bundle a newer one).
    """
    cost = shape.argon2
    kdf = Argon2id(
        salt=shape.salt,
        length=DIGEST_BYTES,
        iterations=cost.iterations,
        lanes=cost.lanes,
        memory_cost=cost.memory_kib,
        ad=ad,
    )
    return kdf.derive(body.encode("ascii"))
