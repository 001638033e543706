"""`python -m totpcore selftest` checks the installed copy against the RFC vectors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from totpcore import TOTP, _selftest, cli


def test_selftest_passes_in_a_subprocess() -> None:
    """The real module entry point exits 0 and says so."""
    out = subprocess.run(
        [sys.executable, "-m", "totpcore", "selftest"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "all match" in out.stdout


def test_selftest_reads_all_vectors() -> None:
    """The packaged files hold the 10 RFC 4226 and 18 RFC 6238 records."""
    assert len(_selftest.load_vectors("rfc4226.txt")) == 10
    assert len(_selftest.load_vectors("rfc6238.txt")) == 18


def test_selftest_fails_on_a_broken_truncation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong truncation is reported per vector and the exit code is 1."""
    monkeypatch.setattr(_selftest, "truncate", lambda mac: 0)
    assert cli.main(["selftest"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("FAIL RFC 4226") == 10


def test_selftest_fails_on_a_broken_time_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong step computation fails the RFC 6238 rows."""
    monkeypatch.setattr(TOTP, "step_at", lambda self, t: 0)
    assert cli.main(["selftest"]) == cli.EXIT_FAILED
    assert capsys.readouterr().err.count("FAIL RFC 6238") == 18
