"""The throttling policy: how long to wait after each consecutive failure, and when to lock.

Pure: the store applies it atomically (:meth:`totpcore.store.Store.claim_attempt`), so
the count lives with the user's record, never with a session (RFC 4226 §7.3: "across
login sessions"; CVE-2023-54347).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from totpcore._checks import check_int
from totpcore.errors import ConfigurationError

__all__ = ["NIST_MAX_FAILURES", "Throttle"]

#: NIST SP 800-63B §5.2.2: "no more than 100" consecutive failed attempts on one account.
NIST_MAX_FAILURES: Final = 100
_MAX_DELAY: Final = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Throttle:
    """Consecutive failures allowed for free, the growing delay after them, and the lockout.

    After the *n*-th consecutive failure the next attempt waits
    ``min(base_delay * growth ** (n - free_attempts - 1), max_delay)`` seconds, or nothing
    while ``n <= free_attempts``. The *lockout*-th consecutive failure locks the
    credential until a support reset. A success clears the count.

    With the defaults a guesser gets 10 tries, the last ones minutes apart; with a
    3-step window the chance of guessing a 6-digit code before lockout is 3e-5
    (``docs/verification.md``).

    Raises:
        TypeError: a field has the wrong type.
        ConfigurationError: *lockout* outside 1 to 100 (NIST SP 800-63B §5.2.2), free
            attempts not below the lockout, or delays out of range.
    """

    free_attempts: int = 3
    base_delay: float = 2.0
    growth: float = 2.0
    max_delay: float = 900.0
    lockout: int = 10

    def __post_init__(self) -> None:
        check_int("lockout", self.lockout, 1, NIST_MAX_FAILURES)
        check_int("free_attempts", self.free_attempts, 0, self.lockout - 1)
        for name in ("base_delay", "growth", "max_delay"):
            value = getattr(self, name)
            if type(value) not in (int, float):
                raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
        if not 0 < self.base_delay <= self.max_delay <= _MAX_DELAY:
            raise ConfigurationError(
                f"delays must satisfy 0 < base_delay ({self.base_delay}) <= max_delay "
                f"({self.max_delay}) <= {_MAX_DELAY:g} seconds"
            )
        if not 1 <= self.growth <= 10:
            raise ConfigurationError(f"growth={self.growth} is out of range: expected 1 to 10")

    def delay_after(self, failures: int) -> float:
        """Return the seconds to wait after *failures* consecutive failures."""
        excess = failures - self.free_attempts
        if excess <= 0:
            return 0.0
        # Capping the exponent keeps the float finite for any count.
        return float(min(self.base_delay * self.growth ** min(excess - 1, 64), self.max_delay))

    def locks_at(self, failures: int) -> bool:
        """Whether *failures* consecutive failures lock the credential."""
        return failures >= self.lockout
