"""Acceptance windows, matches and the replay rule of the TOTP verifier (RFC 6238 §5.2, §6).

Everything here is pure: time and the last accepted step are parameters, and the caller
persists the returned :class:`Match` (atomically, see :mod:`totpcore.store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from totpcore._checks import check_int
from totpcore.errors import ReplayedCode

__all__ = ["MAX_WINDOW", "Match", "Window", "choose"]

#: The widest window accepted each way. RFC 6238 §5.2 recommends one step; ten steps
#: (five minutes at 30 s) is far beyond any sensible policy and bounds the work per attempt.
MAX_WINDOW: Final = 10


@dataclass(frozen=True, slots=True)
class Window:
    """How many steps behind and ahead of the expected step a code is accepted.

    The default, one step each way, is RFC 6238 §5.2's "at most one time step ... as
    the network delay" plus one step for a phone slightly fast.

    Raises:
        TypeError: *past* or *future* is not an ``int``.
        ConfigurationError: *past* or *future* is outside 0 to 10.
    """

    past: int = 1
    future: int = 1

    def __post_init__(self) -> None:
        check_int("past", self.past, 0, MAX_WINDOW)
        check_int("future", self.future, 0, MAX_WINDOW)

    @property
    def size(self) -> int:
        """The number of steps a code is compared against: ``past + 1 + future``."""
        return self.past + 1 + self.future

    def lifetime(self, period: int = 30) -> int:
        """Return how many seconds one code stays acceptable: ``size * period``.

        This is the "defined lifetime" NIST SP 800-63B §5.1.4.2 and OWASP ASVS 2.8.1 ask
        for: a code generated in step s is accepted while the verifier's expected step is
        in ``[s - future, s + past]``, that is for ``past + 1 + future`` whole steps.

        Raises:
            TypeError, ConfigurationError: *period* is not an int from 1 to 120.
        """
        return self.size * check_int("period", period, 1, 120)


@dataclass(frozen=True, slots=True)
class Match:
    """An accepted code: the absolute step it matched and its offset from the clock.

    Attributes:
        step: the matched step (RFC 6238 T). Store it as the last accepted step.
        offset: ``step - step_at(at)``, the phone's clock error in steps. A verifier
            learns drift from it (RFC 6238 §6).
    """

    step: int
    offset: int


def choose(matches: list[int], expected: int, last_step: int | None) -> int:
    """Pick the accepted step among the steps whose code matched (all already computed).

    The rule, applied after every candidate has been compared:

    * steps at or before *last_step* are replays (RFC 6238 §5.2: "MUST NOT accept the
      second attempt");
    * among the others, the one nearest *expected* wins; on a tie (a chance collision
      one step either side) the earlier step wins, because moving ``last_step`` less
      far cannot lock out the user's next genuine code.

    *matches* is never empty: the caller raises :class:`InvalidCode` first.

    Raises:
        ReplayedCode: only steps at or before *last_step* matched; carries the latest.
    """
    fresh = matches if last_step is None else [s for s in matches if s > last_step]
    if not fresh:
        raise ReplayedCode(max(matches))
    return min(fresh, key=lambda s: (abs(s - expected), s))
