"""The throttling policy (pure): delays, lockout ceiling, validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from totpcore import ConfigurationError
from totpcore.throttle import NIST_MAX_FAILURES, Throttle


def test_default_schedule() -> None:
    """Three free failures, then 2 s doubling, capped at 15 min; the tenth failure locks."""
    throttle = Throttle()
    assert [throttle.delay_after(n) for n in range(8)] == [0, 0, 0, 0, 2, 4, 8, 16]
    assert throttle.delay_after(30) == 900
    assert [throttle.locks_at(n) for n in (9, 10, 11)] == [False, True, True]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lockout": 0},
        {"lockout": NIST_MAX_FAILURES + 1},
        {"free_attempts": 10, "lockout": 10},
        {"free_attempts": -1},
        {"base_delay": 0},
        {"base_delay": 10, "max_delay": 5},
        {"max_delay": 86401},
        {"growth": 0.5},
        {"growth": 11},
    ],
)
def test_invalid_policies(kwargs: dict[str, float]) -> None:
    """Impossible or non-NIST policies are refused at construction (NIST SP 800-63B §5.2.2: <= 100)."""
    with pytest.raises(ConfigurationError):
        Throttle(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"lockout": 10.0}, {"base_delay": "2"}, {"growth": None}])
def test_wrong_types(kwargs: dict[str, object]) -> None:
    """Numbers only."""
    with pytest.raises(TypeError):
        Throttle(**kwargs)  # type: ignore[arg-type]


@given(
    failures=st.integers(min_value=0, max_value=10_000),
    free=st.integers(min_value=0, max_value=99),
    growth=st.floats(min_value=1, max_value=10),
)
def test_delays_grow_and_stay_bounded(failures: int, free: int, growth: float) -> None:
    """The delay never decreases with more failures and never exceeds max_delay."""
    throttle = Throttle(free_attempts=free, lockout=100, growth=growth, max_delay=3600)
    assert 0 <= throttle.delay_after(failures) <= throttle.delay_after(failures + 1) <= 3600
