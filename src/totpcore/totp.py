"""RFC 6238 TOTP: HOTP over time steps, with a drift-tolerant, replay-safe verifier."""

from __future__ import annotations

import hmac
import time
from typing import Final

from totpcore._checks import (
    COUNTER_LIMIT,
    MAX_RESYNC_CODES,
    UnixTime,
    check_counter,
    check_int,
    parse_code,
    parse_codes,
    step_of,
)
from totpcore.errors import InvalidCode
from totpcore.hotp import _FORMATS, _IPAD, _OPAD, Algorithm, _KeyedOtp, _pack_counter, _unpack_word
from totpcore.secret import Secret
from totpcore.verify import Match, Window, choose

__all__ = ["DEFAULT_WINDOW", "MAX_PERIOD", "MAX_RESYNC_CODES", "TOTP"]

#: NIST SP 800-63B §5.1.4.1: a clock-based nonce "SHALL be changed at least once every 2 minutes".
MAX_PERIOD: Final = 120
#: The verifier's default window: one step behind and one ahead.
DEFAULT_WINDOW: Final = Window()
#: The default resynchronisation search: this many seconds either side of now.
RESYNC_SECONDS: Final = 24 * 3600
#: The widest resynchronisation search accepted, in steps either side of now.
MAX_RESYNC_SEARCH: Final = 100_000
_MAX_DRIFT: Final = COUNTER_LIMIT - 1


class TOTP(_KeyedOtp):
    """A TOTP generator and verifier for one secret (RFC 6238).

    The keyed HMAC state is prepared once, so each code costs one HMAC on a ready
    state. Time is Unix seconds counted with floor division from *t0* (RFC 6238 §4.2),
    with no 32-bit limit anywhere.

    Args:
        secret: the shared secret.
        digits: 6, 7 or 8.
        period: the time step X in seconds, 1 to 120 (NIST SP 800-63B §5.1.4.1).
        algorithm: the HMAC hash.
        t0: the Unix time steps are counted from (RFC 6238 §4.1), 0 or later.

    Raises:
        TypeError: *secret* is not a :class:`Secret`, or another argument has a wrong type.
        ConfigurationError: *digits*, *period* or *t0* out of range.
    """

    __slots__ = ("_period", "_t0")

    def __init__(
        self,
        secret: Secret,
        *,
        digits: int = 6,
        period: int = 30,
        algorithm: Algorithm = Algorithm.SHA1,
        t0: int = 0,
    ) -> None:
        # A build is on every login's path (issue 15's "build + one code" and "build +
        # verify" targets, docs/performance.md): the common case is tested in one go and
        # _KeyedOtp.__init__ is written out below; anything else takes the checked path,
        # which raises the precise error.
        if (
            not isinstance(secret, Secret)
            or type(algorithm) is not Algorithm
            or type(digits) is not int
            or digits not in _FORMATS
            or type(period) is not int
            or type(t0) is not int
            or not (1 <= period <= MAX_PERIOD and 0 <= t0 < COUNTER_LIMIT)
        ):
            _KeyedOtp.__init__(self, secret, digits, algorithm)
            check_int("period", period, 1, MAX_PERIOD)
            check_counter(t0, "t0")
        self._secret = secret
        self._algorithm = algorithm
        self._digits = digits
        self._format, self._modulus = _FORMATS[digits]
        self._period = period
        self._t0 = t0
        new, block_size = algorithm._constructor, algorithm.block_size  # noqa: SLF001
        key = secret._raw  # noqa: SLF001  # same package; bytes() costs a call per build
        if len(key) > block_size:  # RFC 2104 §2: keys longer than a block are hashed first
            key = new(key).digest()
        key = key.ljust(block_size, b"\0")
        self._inner = new(key.translate(_IPAD))
        self._outer = new(key.translate(_OPAD))

    @property
    def period(self) -> int:
        """The time step X in seconds."""
        return self._period

    @property
    def t0(self) -> int:
        """The Unix time of step 0."""
        return self._t0

    def __repr__(self) -> str:
        return (
            f"TOTP(digits={self._digits}, period={self._period}, "
            f"algorithm={self._algorithm.name}, t0={self._t0})"
        )

    def step_at(self, t: UnixTime) -> int:
        """Return the time step T at Unix time *t*: ``floor((t - t0) / period)`` (RFC 6238 §4.2).

        Raises:
            TypeError: *t* is not an int, a float or an aware datetime.
            ConfigurationError: *t* is before *t0*, not finite, naive, or its step
                does not fit in 64 bits.
        """
        if type(t) is int:
            step = (t - self._t0) // self._period
            if 0 <= step < COUNTER_LIMIT:
                return step
        return step_of(t, self._t0, self._period)

    def at(self, t: UnixTime) -> str:
        """Return the code at Unix time *t* (RFC 6238 §4.2), leading zeros kept.

        Raises:
            TypeError, ConfigurationError: as :meth:`step_at`.
        """
        # step_at() and _code() written out for the int case: the hottest call of the library.
        if type(t) is int:
            step = (t - self._t0) // self._period
            if 0 <= step < COUNTER_LIMIT:
                inner = self._inner.copy()
                inner.update(_pack_counter(step))
                outer = self._outer.copy()
                outer.update(inner.digest())
                mac = outer.digest()
                (word,) = _unpack_word(mac, mac[-1] & 0x0F)
                code: str = self._format % ((word & 0x7FFFFFFF) % self._modulus)
                return code
        return self._code(step_of(t, self._t0, self._period))

    def now(self) -> str:
        """Return the code for the current time of this machine's clock."""
        return self.at(time.time())

    def verify(
        self,
        code: str,
        *,
        at: UnixTime | None = None,
        window: Window = DEFAULT_WINDOW,
        drift: int = 0,
        last_step: int | None = None,
    ) -> Match:
        """Accept *code* if it matches a step in the window around the expected step.

        The expected step is ``step_at(at) + drift``; the candidates are
        ``expected - window.past .. expected + window.future``, clamped at step 0. Every
        candidate is computed and compared in constant time before anything is decided
        (see :func:`totpcore.verify.choose` for which match wins). Persist the returned
        step as the new *last_step* atomically, and learn ``Match.offset`` as drift.

        Args:
            code: the user's input; spaces are ignored.
            at: the server's time; ``None`` reads this machine's clock. Never a time
                sent by the client (OWASP ASVS 5.0 6.5.8).
            window: steps accepted behind and ahead.
            drift: the user's learned clock drift, in steps.
            last_step: the last step accepted for this secret, or ``None``.

        Raises:
            MalformedCode: *code* is not *digits* ASCII digits.
            InvalidCode: no step in the window matches.
            ReplayedCode: only steps at or before *last_step* match (RFC 6238 §5.2).
            TypeError, ConfigurationError: a bad *at*, *window*, *drift* or *last_step*.
        """
        # parse_code(), step_at() and _scan() written out for the common case: a login
        # verifies one code (issue 15's verify targets, docs/performance.md).
        digits = self._digits
        wanted = code
        if type(code) is not str or len(code) != digits or not code.isascii() or not code.isdigit():
            wanted = parse_code(code, digits)  # spaces removed, or the precise MalformedCode
        t = time.time() if at is None else at
        if type(t) is not int or not 0 <= (now := (t - self._t0) // self._period) < COUNTER_LIMIT:
            now = step_of(t, self._t0, self._period)
        if type(drift) is not int or not -_MAX_DRIFT <= drift <= _MAX_DRIFT:
            check_int("drift", drift, -_MAX_DRIFT, _MAX_DRIFT)
        if type(window) is not Window:
            raise TypeError(f"window must be a totpcore.Window, not {type(window).__name__}")
        expected = now + drift
        low = expected - window.past
        high = expected + window.future + 1
        # Every candidate computed and compared before anything is decided (see _scan).
        compare = hmac.compare_digest
        inner, outer, fmt, modulus = self._inner, self._outer, self._format, self._modulus
        matches = []
        # Conditional expressions, not max() and min(): two calls fewer per login.
        for candidate in range(low if low > 0 else 0, high if high < COUNTER_LIMIT else COUNTER_LIMIT):  # noqa: FURB136
            ih = inner.copy()
            ih.update(_pack_counter(candidate))
            oh = outer.copy()
            oh.update(ih.digest())
            mac = oh.digest()
            (word,) = _unpack_word(mac, mac[-1] & 0x0F)
            if compare(fmt % ((word & 0x7FFFFFFF) % modulus), wanted):
                matches.append(candidate)
        if not matches:
            raise InvalidCode("code does not match any step in the window")
        step = choose(matches, expected, last_step if last_step is None else _last(last_step))
        return Match(step, step - now)

    def resync(
        self,
        codes: list[str] | tuple[str, ...],
        *,
        at: UnixTime | None = None,
        search: int | None = None,
        last_step: int | None = None,
    ) -> Match:
        """Find 2 to 10 consecutive *codes* within ``search`` steps either side of now.

        For a phone whose clock is too far off for the window: the user types the codes
        of consecutive steps (RFC 4226 §7.4 applied to time steps). The default search
        covers 24 hours either side (2880 steps at 30 s); with two 6-digit codes a random
        guess is accepted with probability about ``(2 * search + 1) / 10**12``, 5.8e-9 at
        the default. Returns the :class:`Match` of the **last** code; its offset is the
        drift to learn. When several runs match, the one nearest now wins.

        *codes* is a ``list`` or ``tuple`` of at most :data:`MAX_RESYNC_CODES` (10)
        codes, checked before any code is parsed or any HMAC computed: the cost of a
        call is bounded whatever the caller passes on.

        Raises:
            MalformedCode: *codes* is not a list or tuple, holds more than
                :data:`MAX_RESYNC_CODES` codes, or a code is malformed.
            InvalidCode: fewer than two codes, or no consecutive run in the search.
            ReplayedCode: the run ends at or before *last_step*.
            TypeError, ConfigurationError: a bad *at*, *search* or *last_step*.
        """
        wanted = parse_codes(codes, self._digits)
        now = self.step_at(time.time() if at is None else at)
        if search is None:
            search = RESYNC_SECONDS // self._period
        check_int("search", search, 1, MAX_RESYNC_SEARCH)
        tail = len(wanted) - 1
        first = max(now - search - tail, 0)  # the last code's step lies in now +/- search
        last = min(now + search - tail, COUNTER_LIMIT - len(wanted))
        ends = [start + tail for start in self._runs(wanted, first, last)]
        if not ends:
            raise InvalidCode("the codes are not consecutive codes within the resynchronisation search")
        step = choose(ends, now, _last(last_step))
        return Match(step, step - now)


def _last(last_step: int | None) -> int | None:
    return None if last_step is None else check_counter(last_step, "last_step")
