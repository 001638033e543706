"""The shared secret K of RFC 4226 and RFC 6238, with a redacted ``repr``."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from typing import Final, NoReturn

from totpcore.errors import SecretError

__all__ = ["LEGACY_MIN_SECRET_BYTES", "MAX_SECRET_BYTES", "MIN_SECRET_BYTES", "Secret"]

#: RFC 4226 §4 R6: "The length of the shared secret MUST be at least 128 bits."
MIN_SECRET_BYTES: Final = 16
#: Floor for ``allow_short=True`` imports: 80 bits, what many older deployments issued
#: (16 base32 characters). Below this a secret is refused even for legacy imports.
LEGACY_MIN_SECRET_BYTES: Final = 10
#: A defensive upper bound; HMAC accepts longer keys, but no real deployment has them.
MAX_SECRET_BYTES: Final = 1024
#: RFC 4226 §4 R6 recommends 160 bits, the output size of HMAC-SHA-1.
DEFAULT_SECRET_BYTES: Final = 20

# Anything outside the RFC 4648 base32 alphabet, its lower case, the ignored separators
# (space, hyphen) and the padding character.
_NOT_BASE32: Final = re.compile(r"[^A-Za-z2-7 =\-]")
# A padding character followed by something other than padding: padding in the middle.
_INNER_PAD: Final = re.compile(r"=[ \-]*[A-Za-z2-7]")
# RFC 4648 §6: 8 characters carry 5 bytes; these remainders cannot end a valid encoding.
_BAD_REMAINDERS: Final = frozenset({1, 3, 6})
_DROP_SEPARATORS: Final = str.maketrans("", "", " -")


class Secret:
    """A shared secret: at least 16 bytes, compared in constant time, never shown.

    ``repr()`` and ``str()`` show only the length. Instances are immutable and
    unhashable, and refuse to be pickled so that a secret is never written out by
    accident: seal it with :mod:`totpcore.sealing` or export it with :meth:`to_base32`.

    Args:
        raw: the key bytes.
        allow_short: accept 10 to 15 bytes (80 to 120 bits). Only for importing legacy
            enrollments that cannot be redone; RFC 4226 §4 R6 requires 128 bits.

    Raises:
        TypeError: *raw* is not ``bytes`` or ``bytearray``.
        SecretError: *raw* is shorter than 16 bytes (10 with *allow_short*) or longer
            than 1024 bytes.
    """

    __slots__ = ("_raw",)
    _raw: bytes

    def __init__(self, raw: bytes | bytearray, *, allow_short: bool = False) -> None:
        if not isinstance(raw, (bytes, bytearray)):
            raise TypeError(f"a secret is bytes, not {type(raw).__name__}; use Secret.from_base32 for text")
        minimum = LEGACY_MIN_SECRET_BYTES if allow_short else MIN_SECRET_BYTES
        if len(raw) < minimum:
            hint = "" if allow_short else " (pass allow_short=True only to import a legacy enrollment)"
            raise SecretError(f"secret is {len(raw)} bytes; at least {minimum} bytes are required{hint}")
        if len(raw) > MAX_SECRET_BYTES:
            raise SecretError(f"secret is {len(raw)} bytes; at most {MAX_SECRET_BYTES} are accepted")
        object.__setattr__(self, "_raw", bytes(raw))

    @classmethod
    def generate(cls, nbytes: int = DEFAULT_SECRET_BYTES) -> Secret:
        """Return a new random secret of *nbytes* bytes from :mod:`secrets` (RFC 6238 §5.1).

        Raises:
            TypeError: *nbytes* is not an ``int``.
            SecretError: *nbytes* is below 16 or above 1024.
        """
        if type(nbytes) is not int:
            raise TypeError(f"nbytes is an int, not {type(nbytes).__name__}")
        if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
            raise SecretError(
                f"nbytes={nbytes}: generated secrets are {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
            )
        return cls(secrets.token_bytes(nbytes))

    @classmethod
    def from_base32(cls, text: str, *, allow_short: bool = False) -> Secret:
        """Decode a base32 secret (RFC 4648 §6) as typed by a user or found in a URI.

        Case is ignored, spaces and hyphens are dropped and trailing ``=`` padding is
        optional. Errors name the position of the offending character, never the text.

        Raises:
            TypeError: *text* is not a ``str``.
            SecretError: a character outside the alphabet, padding in the middle, a length
                no base32 encoding can have, or a decoded secret that is too short.
        """
        if not isinstance(text, str):
            raise TypeError(f"a base32 secret is a str, not {type(text).__name__}")
        bad = _NOT_BASE32.search(text)
        if bad is not None:
            _refuse_at(bad.start(), "is not a base32 character (A-Z, 2-7)")
        pad = _INNER_PAD.search(text)
        if pad is not None:
            _refuse_at(pad.start(), "is padding ('=') before the end of the secret")
        body = text.translate(_DROP_SEPARATORS).rstrip("=").upper()
        if not body:
            raise SecretError("the base32 secret is empty")
        if len(body) % 8 in _BAD_REMAINDERS:
            raise SecretError(
                f"no base32 encoding has {len(body)} characters; the secret was truncated or mistyped"
            )
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
        return cls(raw, allow_short=allow_short)

    def to_base32(self) -> str:
        """Return the secret as upper-case base32 without padding (the Key URI Format)."""
        return base64.b32encode(self._raw).decode("ascii").rstrip("=")

    def __bytes__(self) -> bytes:
        return self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._raw, other._raw)

    __hash__ = None  # type: ignore[assignment]  # a secret must not become a dict key

    def __repr__(self) -> str:
        return f"Secret(<{len(self._raw)} bytes, redacted>)"

    __str__ = __repr__

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "Secret refuses to be pickled; seal it with totpcore.sealing or export to_base32() explicitly"
        )

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def _refuse_at(index: int, what: str) -> NoReturn:
    raise SecretError(f"character {index + 1} of the base32 secret {what}")
