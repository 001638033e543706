"""The exception tree of docs/design.md, "Errors"."""

from __future__ import annotations

import pytest

import totpcore
from totpcore import errors

TREE = {
    "ConfigurationError": ("TotpcoreError", "ValueError"),
    "SecretError": ("TotpcoreError", "ValueError"),
    "UriError": ("TotpcoreError", "ValueError"),
    "VerificationError": ("TotpcoreError",),
    "MalformedCode": ("VerificationError",),
    "InvalidCode": ("VerificationError",),
    "ReplayedCode": ("VerificationError",),
    "EnrollmentError": ("TotpcoreError",),
    "PolicyError": ("TotpcoreError",),
    "StoreError": ("TotpcoreError",),
}


@pytest.mark.parametrize(("name", "parents"), TREE.items())
def test_each_error_has_its_documented_parents(name: str, parents: tuple[str, ...]) -> None:
    """Each class derives directly from the parents docs/design.md names, and is exported."""
    cls = getattr(errors, name)
    assert getattr(totpcore, name) is cls
    assert tuple(base.__name__ for base in cls.__bases__) == parents


def test_the_base_is_an_exception() -> None:
    """TotpcoreError is an Exception, so `except Exception` keeps working."""
    assert errors.TotpcoreError.__bases__ == (Exception,)


def test_replayed_code_carries_the_step() -> None:
    """ReplayedCode exposes the step (not secret) and says what happened."""
    error = errors.ReplayedCode(56666666)
    assert error.step == 56666666
    assert "already used" in str(error)
