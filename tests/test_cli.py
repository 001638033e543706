"""The command line, in process and as the real console script."""

from __future__ import annotations

import runpy
import subprocess
import sys

import pytest

from totpcore import cli


def test_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo completes and never prints a secret."""
    assert cli.main(["demo"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "redacted" in out
    assert "offset +1" in out


def test_module_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m totpcore` exits with main()'s code."""
    monkeypatch.setattr(sys, "argv", ["totpcore", "selftest"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("totpcore", run_name="__main__")
    assert caught.value.code == cli.EXIT_OK


def test_usage_error_exit_code() -> None:
    """An unknown command exits 2 with a one-line usage message, no traceback."""
    out = subprocess.run(
        [sys.executable, "-m", "totpcore", "frobnicate"], capture_output=True, text=True, check=False
    )
    assert out.returncode == cli.EXIT_USAGE
    assert "Traceback" not in out.stderr
    assert "invalid choice" in out.stderr
