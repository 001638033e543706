"""Argument checks shared by the pure layers: digits, counters, Unix times and codes.

Each check raises ``TypeError`` for a wrong type and a :mod:`totpcore.errors` exception
for a wrong value, with a message that names the argument and never its secret content.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Final, NoReturn

from totpcore.errors import ConfigurationError, InvalidCode, MalformedCode

#: RFC 4226 §5.2: the counter is 8 bytes, so 0 <= counter < 2**64.
COUNTER_LIMIT: Final = 1 << 64
#: RFC 4226 §5.3 and §4 R4: at least 6 digits; 8 is the most any peer supports.
MIN_DIGITS: Final = 6
MAX_DIGITS: Final = 8
#: The most codes a resynchronisation takes (RFC 4226 §7.4 asks for "say, 2, 3"). The search
#: compares every code at every step it covers, so longer requests are refused unread.
MAX_RESYNC_CODES: Final = 10

UnixTime = int | float | dt.datetime

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_SECOND: Final = dt.timedelta(seconds=1)


def type_error(name: str, expected: str, value: object) -> NoReturn:
    """Raise the one ``TypeError`` wording used for every argument."""
    raise TypeError(f"{name} must be {expected}, not {type(value).__name__}")


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return *value* if it is an ``int`` (not ``bool``) with ``low <= value <= high``."""
    if type(value) is not int:
        type_error(name, "an int", value)
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={value} is out of range: expected {low} to {high}")
    return value


def check_digits(digits: object) -> int:
    """Return *digits* if it is 6, 7 or 8 (RFC 4226 §5.3)."""
    return check_int("digits", digits, MIN_DIGITS, MAX_DIGITS)


def check_counter(counter: object, name: str = "counter") -> int:
    """Return *counter* (a counter, step or t0) if it fits the 8-byte counter of RFC 4226 §5.2."""
    return check_int(name, counter, 0, COUNTER_LIMIT - 1)


def unix_seconds(t: object) -> int | float:
    """Return *t* as Unix seconds: an ``int``, a finite ``float`` or an aware ``datetime``.

    An ``int`` or a ``float`` is returned as given. An aware ``datetime`` becomes its
    whole Unix seconds, floored in integer arithmetic: never through a ``float``, which
    rounds ``2600-01-01T00:00:29.999999Z`` up to the next second, and the next time step.
    Dropping the fraction loses nothing: *t0* and the period are whole seconds, so
    ``floor((t - t0) / period)`` only depends on ``floor(t)``. A naive ``datetime`` is
    refused: its meaning depends on the server's time zone (pyotp converts it with
    ``time.mktime``, which is local time).
    """
    if type(t) is float:
        if math.isfinite(t):
            return t
        raise ConfigurationError(f"time must be finite, got {t!r}")
    if type(t) is int:
        return t
    if isinstance(t, dt.datetime):
        if t.utcoffset() is None:
            raise ConfigurationError(
                "a naive datetime has no time zone; pass an aware datetime or Unix seconds"
            )
        return (t - _EPOCH) // _SECOND
    return type_error("time", "Unix seconds (int or float) or an aware datetime", t)


def step_of(t: object, t0: int, period: int) -> int:
    """Return ``floor((t - t0) / period)`` for a checked time (RFC 6238 §4.2), exactly.

    The time is floored to a whole second first, in integer arithmetic from there on:
    *t0* and *period* are whole seconds, so ``floor((t - t0) / period)`` equals
    ``(floor(t) - t0) // period``, while float ``//`` rounds once ``t - t0`` reaches
    2**53 (``step_at(1.0133099161583614e16)`` with a period of 3 would be one step short).

    Raises:
        ConfigurationError: *t* is before *t0* or its step does not fit in 64 bits.
    """
    seconds = unix_seconds(t)
    if seconds < t0:
        raise ConfigurationError(f"time {seconds} is before t0={t0}")
    step = (math.floor(seconds) - t0) // period
    if step >= COUNTER_LIMIT:
        raise ConfigurationError(f"time {seconds} gives a step beyond 2**64 - 1")
    return step


def parse_code(code: object, digits: int) -> str:
    """Return *code* without spaces if it is exactly *digits* ASCII digits.

    Only the space character U+0020 is removed (users paste ``"123 456"``). Never
    ``int()``: it accepts full-width digits, underscores, signs and drops leading zeros.

    Raises:
        MalformedCode: anything else, including a non-``str``. The message does not
            repeat the input.
    """
    if not isinstance(code, str):
        raise MalformedCode(f"a code is a str of {digits} digits, not {type(code).__name__}")
    if " " in code:
        code = code.replace(" ", "")
    # isdigit() alone accepts other scripts' digits; isascii() narrows it to 0-9.
    if len(code) != digits or not code.isascii() or not code.isdigit():
        raise MalformedCode(f"a code is exactly {digits} ASCII digits (spaces are ignored)")
    return code


def parse_codes(codes: object, digits: int) -> list[str]:
    """Return the codes of a resynchronisation request: 2 to :data:`MAX_RESYNC_CODES`, each well formed.

    The container is checked before any element is looked at: only a ``list`` or a
    ``tuple``, of at most :data:`MAX_RESYNC_CODES` codes, so a request's cost is
    bounded before any code is parsed or any HMAC computed. A generator is never
    advanced, and a ``str`` is not taken for a sequence of one-character codes.

    Raises:
        MalformedCode: *codes* is not a list or tuple, holds more than
            :data:`MAX_RESYNC_CODES` codes, or any code is malformed.
        InvalidCode: fewer than two codes.
    """
    if not isinstance(codes, (list, tuple)):
        raise MalformedCode(f"resynchronisation codes come as a list or tuple, not {type(codes).__name__}")
    if len(codes) > MAX_RESYNC_CODES:
        raise MalformedCode(f"resynchronisation takes at most {MAX_RESYNC_CODES} codes, got {len(codes)}")
    parsed = [parse_code(code, digits) for code in codes]
    if len(parsed) < 2:
        raise InvalidCode("resynchronisation needs at least two consecutive codes")
    return parsed
