"""The values MfaService and AsyncMfaService take and return: policy, results, state, audit events.

Pure: no I/O. Shared by both faces of the service (``docs/design.md``, "Layers").
"""

from __future__ import annotations

import enum
import os
import unicodedata
from dataclasses import dataclass
from typing import Final, NoReturn

from totpcore import recovery
from totpcore._checks import COUNTER_LIMIT, check_int
from totpcore.errors import ConfigurationError, Outcome
from totpcore.hotp import Algorithm
from totpcore.store.base import Status
from totpcore.throttle import Throttle
from totpcore.totp import DEFAULT_WINDOW, MAX_PERIOD, MAX_RESYNC_SEARCH
from totpcore.verify import MAX_WINDOW, Window

__all__ = [
    "MAX_ACTOR",
    "MAX_REASON",
    "MAX_USER_ID",
    "AuditEvent",
    "Enrollment",
    "EventType",
    "KeyRotation",
    "LoginResult",
    "Method",
    "MfaState",
    "Outcome",
    "Policy",
    "Requirement",
    "check_actor",
    "check_reason",
    "check_user_id",
    "is_unix_time",
]

#: Longest user id, in characters (fits the recovery-code context and any sane column).
MAX_USER_ID: Final = 255
MAX_ACTOR: Final = 255
MAX_REASON: Final = 1000
DEFAULT_THROTTLE: Final = Throttle()
#: Seconds a recovery-code check waits for a free Argon2id slot before it is refused as BUSY.
DEFAULT_KDF_WAIT: Final = 5.0
MAX_KDF_WAIT: Final = 60.0
MAX_KDF_CONCURRENCY: Final = 256
# Control characters (Cc), lone surrogates (Cs) and the line/paragraph separators: none
# belongs in an id, and each could break a log line or an encoder downstream.
_FORBIDDEN: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})


class Method(enum.Enum):
    """Which factor an attempt was evaluated as."""

    TOTP = "totp"
    RECOVERY = "recovery"


class Requirement(enum.Enum):
    """What a user needs after the password: the login decision of :meth:`MfaService.requirement`."""

    NONE = "none"  # no MFA and not mandatory: let them in (offer enrolment)
    ENROLL = "enroll"  # MFA is mandatory and not enabled: enrolment before anything else
    CODE = "code"  # ask for an app code or a recovery code
    SUPPORT = "support"  # locked: only a support reset helps


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The result of :meth:`MfaService.verify` or :meth:`MfaService.resync`.

    Attributes:
        outcome: what happened (for the application and the audit log).
        method: TOTP or RECOVERY, when the input was evaluated as one of them (the
            attempt then counted as a failure until it succeeded).
        retry_after: seconds before the next attempt can succeed (THROTTLED, BUSY).
        recovery_codes_left: unused recovery codes after a successful recovery login.
    """

    outcome: Outcome
    method: Method | None = None
    retry_after: float = 0.0
    recovery_codes_left: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the second factor was accepted."""
        return self.outcome is Outcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class MfaState:
    """Where one user stands, for the lock indicator, the account page and the support console.

    Attributes:
        status: NONE, PENDING, ENABLED or LOCKED.
        requirement: what the user needs after the password (:class:`Requirement`).
        enabled_at: Unix time MFA was confirmed (``None`` unless ENABLED or LOCKED).
        recovery_codes_left: unused recovery codes that can still work (``None`` unless
            ENABLED or LOCKED; 0 when the stored set cannot be read: regenerate it).
        retry_after: seconds before an attempt can succeed (0.0: now; 0.0 when locked).
    """

    status: Status
    requirement: Requirement
    enabled_at: float | None
    recovery_codes_left: int | None
    retry_after: float


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """What :meth:`MfaService.rotate_keys` did.

    Attributes:
        resealed: users whose stored secrets (or recovery digests) were re-sealed.
        skipped: users whose row could not be re-sealed (altered, corrupt, or under a
            key missing from the ring), left exactly as they were, sorted.
    """

    resealed: int
    skipped: tuple[str, ...]


class Enrollment:
    """What to show a user who starts enrolment: the QR code and the secret for manual entry.

    Both are secret until the user has scanned them: send them to the user's browser
    only, over TLS, and never log them. To keep them out of places that outlive the
    page, an Enrollment refuses to be pickled or copied (a session store pickles), is not
    a dataclass (``dataclasses.asdict`` refuses it), has no ``__dict__`` (``vars``
    refuses it), is not JSON-serialisable, and its ``repr`` hides both. Keep the user id
    in the session and call :meth:`MfaService.begin_enrollment` again if the page is lost.
    """

    __slots__ = ("_secret_base32", "_uri")

    _uri: str
    _secret_base32: str

    def __init__(self, uri: str, secret_base32: str) -> None:
        object.__setattr__(self, "_uri", uri)
        object.__setattr__(self, "_secret_base32", secret_base32)

    @property
    def uri(self) -> str:
        """The ``otpauth://`` URI (Key Uri Format) the QR code encodes."""
        return self._uri

    @property
    def secret_base32(self) -> str:
        """The secret in base32, for typing into an authenticator app by hand."""
        return self._secret_base32

    def __repr__(self) -> str:
        return "Enrollment(<uri and secret redacted>)"

    __str__ = __repr__

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Enrollment is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Enrollment is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("Enrollment holds a secret and refuses to be pickled or copied")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("Enrollment holds a secret and refuses to be pickled or copied")

    def __getstate__(self) -> NoReturn:
        raise TypeError("Enrollment holds a secret and refuses to be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("Enrollment holds a secret and refuses to be pickled or copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("Enrollment holds a secret and refuses to be pickled or copied")

    def qr_svg(self) -> str:
        """Return the URI as an SVG QR code, to inline in HTML (needs the ``qr`` extra)."""
        from totpcore import qr  # noqa: PLC0415  # optional extra, imported on use

        return qr.svg(self._uri)

    def qr_png(self) -> bytes:
        """Return the URI as a PNG QR code (needs the ``qr`` extra)."""
        from totpcore import qr  # noqa: PLC0415

        return qr.png(self._uri)

    def qr_terminal(self) -> str:
        """Return the URI as a QR code of Unicode blocks, for a terminal (needs the ``qr`` extra)."""
        from totpcore import qr  # noqa: PLC0415

        return qr.terminal(self._uri)


class EventType(enum.Enum):
    """The kinds of audit event."""

    ENROLLMENT_STARTED = "enrollment_started"
    ENROLLMENT_CONFIRMED = "enrollment_confirmed"
    ENROLLMENT_FAILED = "enrollment_failed"
    LOGIN = "login"
    RESYNC = "resync"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    RESET = "reset"
    DISABLE_REFUSED = "disable_refused"
    KEY_ROTATED = "key_rotated"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit record. Never holds a code, a recovery code, a secret or a URI.

    A RESET of a user who had no record carries ``outcome=NOT_ENROLLED``, and so does a
    RECOVERY_CODES_REGENERATED whose enrolment was reset after its app code was accepted
    (nothing was replaced).
    """

    type: EventType
    user_id: str
    at: float
    outcome: Outcome | None = None
    method: Method | None = None
    offset: int | None = None
    recovery_codes_left: int | None = None
    actor: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        r"""One line, ``type user=... outcome=...``, listing the fields that are set.

        Values are written so that no input can forge a line or a field: a value with
        a space, a quote, an ``=`` or a backslash is quoted, and every control, format or
        separator character is escaped (``\\n``, ``\\x1b``, ``\\u202e``), so a user id
        or a reason holding a newline cannot print a second, fake event.
        """
        fields = [f"user={_quote(self.user_id)}"]
        for name in ("outcome", "method", "offset", "recovery_codes_left", "actor", "reason"):
            value = getattr(self, name)
            if value is not None:
                text = value.value if isinstance(value, enum.Enum) else str(value)
                fields.append(f"{name}={_quote(text)}")
        return f"{self.type.value} {' '.join(fields)}"


def _quote(text: str) -> str:
    """*text* as one logfmt-style token: bare when harmless, else quoted and escaped."""
    escaped = "".join(_escape(char) for char in text)
    if escaped and escaped == text and not any(char in text for char in ' "=\\'):
        return text
    return '"' + escaped.replace('"', '\\"') + '"'


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    # Every "other" (control, format such as bidi overrides, surrogate, private, unassigned)
    # and every separator but the plain space: none may reach a log line as itself.
    category = unicodedata.category(char)
    if category[0] == "C" or (category[0] == "Z" and char != " "):
        code = ord(char)
        special = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
        if special:
            return special
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


@dataclass(frozen=True, slots=True)
class Policy:
    """The service's rules, validated at construction.

    Attributes:
        window: steps accepted behind and ahead of the expected step (each <= 10).
        max_drift: bound, in steps, on the drift learned from ordinary logins.
        resync_search: steps searched either side of now by :meth:`MfaService.resync`.
        digits, period, algorithm: parameters of newly issued secrets.
        recovery_count, recovery_bits: size of a recovery set and entropy per code.
        recovery_kdf: Argon2id parameters hashing recovery codes.
        throttle: free attempts, growing delay and lockout ceiling (<= 100).
        mandatory_from: Unix time from which every user must have MFA
            (:class:`Requirement` ENROLL), or ``None``: never mandatory.
        kdf_concurrency: at most this many Argon2id evaluations run at once in the
            process (``None``: the number of CPUs). Services with the same bound share
            one gate, so the bound holds across them and across both faces.
        kdf_wait: seconds a recovery-code check waits, in order, for a free slot before
            it is refused as BUSY (not counted as the user's failure).
        accept_unsealed_recovery: accept recovery sets stored before digests were sealed
            (by totpcore before schema 2), and seal each at its user's next successful
            login. Off by default: anyone able to write the tables could store such a set
            with codes of their own. Upgrading deployments run ``rotate_keys()`` once
            instead; switch this on only for the transition, if they cannot.

    Raises:
        TypeError, ConfigurationError: any field out of range.
    """

    window: Window = DEFAULT_WINDOW
    max_drift: int = 2
    resync_search: int = 2880
    digits: int = 6
    period: int = 30
    algorithm: Algorithm = Algorithm.SHA1
    recovery_count: int = 5
    recovery_bits: int = 80
    recovery_kdf: recovery.Argon2Params = recovery.DEFAULT_PARAMS
    throttle: Throttle = DEFAULT_THROTTLE
    mandatory_from: float | None = None
    kdf_concurrency: int | None = None
    kdf_wait: float = DEFAULT_KDF_WAIT
    accept_unsealed_recovery: bool = False

    def __post_init__(self) -> None:
        if type(self.window) is not Window:
            raise TypeError("window must be a totpcore.Window")
        check_int("max_drift", self.max_drift, 0, MAX_WINDOW)
        check_int("resync_search", self.resync_search, 1, MAX_RESYNC_SEARCH)
        check_int("digits", self.digits, 6, 8)
        check_int("period", self.period, 1, MAX_PERIOD)
        if type(self.algorithm) is not Algorithm:
            raise TypeError("algorithm must be a totpcore.Algorithm")
        check_int("recovery_count", self.recovery_count, 1, recovery.MAX_COUNT)
        check_int("recovery_bits", self.recovery_bits, recovery.MIN_BITS, recovery.MAX_BITS)
        if type(self.recovery_kdf) is not recovery.Argon2Params:
            raise TypeError("recovery_kdf must be totpcore.recovery.Argon2Params")
        if type(self.throttle) is not Throttle:
            raise TypeError("throttle must be a totpcore.Throttle")
        if self.mandatory_from is not None and not is_unix_time(self.mandatory_from):
            raise ConfigurationError("mandatory_from must be None or a Unix time from 0 to below 2**64")
        if self.kdf_concurrency is not None:
            check_int("kdf_concurrency", self.kdf_concurrency, 1, MAX_KDF_CONCURRENCY)
        if type(self.accept_unsealed_recovery) is not bool:
            raise TypeError("accept_unsealed_recovery must be a bool")
        if not (type(self.kdf_wait) in (int, float) and 0 < self.kdf_wait <= MAX_KDF_WAIT):
            raise ConfigurationError(f"kdf_wait must be more than 0 and at most {MAX_KDF_WAIT:g} seconds")

    @property
    def kdf_slots(self) -> int:
        """The bound on concurrent Argon2id evaluations in force (``kdf_concurrency`` or the CPUs)."""
        return self.kdf_concurrency if self.kdf_concurrency is not None else os.cpu_count() or 1

    def mandatory_at(self, now: float) -> bool:
        """Whether MFA is mandatory at Unix time *now*."""
        return self.mandatory_from is not None and now >= self.mandatory_from


def is_unix_time(value: object) -> bool:
    """Whether *value* is a time a correct server can report: an int or float from 0 to below 2**64 s.

    The comparisons are exact for an int of any size and false for NaN, so nothing is
    converted to a float (which overflows for a huge int) and NaN and the infinities are
    out of range. ``bool`` is not a time. The upper bound keeps time steps in 64 bits
    (RFC 4226 §5.2).
    """
    return type(value) in (int, float) and 0 <= value < COUNTER_LIMIT  # type: ignore[operator]


def _check_text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty str")
    if len(value) > limit:
        raise ConfigurationError(f"{name} is {len(value)} characters long; at most {limit} are allowed")
    return value


def check_user_id(user_id: object) -> str:
    """Return *user_id* if it is a usable user id; checked before the store is touched.

    A user id is a non-empty ``str`` of at most 255 characters, with no control
    characters (including the line and paragraph separators) and no lone surrogates:
    it is bound into sealed secrets, recovery digests and audit lines, and must encode.

    Raises:
        ConfigurationError: anything else. The message names the position, not the id.
    """
    user_id = _check_text("user_id", user_id, MAX_USER_ID)
    for position, char in enumerate(user_id, start=1):
        if unicodedata.category(char) in _FORBIDDEN:
            raise ConfigurationError(
                f"user_id has a control character or a lone surrogate at position {position}"
            )
    return user_id


def check_actor(actor: object) -> str:
    """Return *actor* (who performs a support action) if it is a user-id-like name with a visible character.

    Raises:
        ConfigurationError: empty, only blanks, too long, or with a control character.
    """
    actor = _check_text("actor", actor, MAX_ACTOR)
    try:
        check_user_id(actor)
    except ConfigurationError:
        raise ConfigurationError("actor has a control character or a lone surrogate") from None
    return _visible("actor", actor)


def check_reason(reason: object) -> str:
    """Return *reason* (why a support action happens) if it has a visible character.

    Newlines are allowed (a ticket text); audit lines escape them.

    Raises:
        ConfigurationError: empty, only blanks, longer than 1000 characters, or holding a
            lone surrogate.
    """
    reason = _check_text("reason", reason, MAX_REASON)
    if any(unicodedata.category(char) == "Cs" for char in reason):
        raise ConfigurationError("reason has a lone surrogate")
    return _visible("reason", reason)


def _visible(name: str, text: str) -> str:
    if not any(char.isprintable() and not char.isspace() for char in text):
        raise ConfigurationError(f"a reset needs an {name} with a visible character")
    return text
