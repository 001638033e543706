"""The pinned public surface (``docs/design.md``, "Layers")."""

from __future__ import annotations

import subprocess
import sys

import totpcore

PINNED = [
    "HOTP",
    "TOTP",
    "Algorithm",
    "AsyncMfaService",
    "AuditEvent",
    "ConfigurationError",
    "Enrollment",
    "EnrollmentError",
    "EventType",
    "InvalidCode",
    "KeyRing",
    "KeyRotation",
    "LoginResult",
    "MalformedCode",
    "Match",
    "Method",
    "MfaService",
    "MfaState",
    "Outcome",
    "Policy",
    "PolicyError",
    "ProvisioningUri",
    "RecordError",
    "ReplayedCode",
    "Requirement",
    "Secret",
    "SecretError",
    "Status",
    "StoreError",
    "Throttle",
    "TotpcoreError",
    "UriError",
    "VerificationError",
    "Window",
    "build_uri",
    "hotp",
    "open_async_service",
    "open_service",
    "parse_uri",
]


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_pinned_and_sorted() -> None:
    """__all__ is exactly the pinned list, kept sorted."""
    assert totpcore.__all__ == PINNED
    assert totpcore.__all__ == sorted(totpcore.__all__, key=_isort_key)


def test_every_name_resolves() -> None:
    """Each exported name exists."""
    for name in totpcore.__all__:
        assert getattr(totpcore, name) is not None


def test_the_blocking_face_does_not_load_asyncio() -> None:
    """`import totpcore` and the CLI leave asyncio unloaded: only the async face pays for it (~35 ms)."""
    probe = "import sys, totpcore, totpcore.cli, totpcore.store; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_pulls_in_no_optional_dependency() -> None:
    """`import totpcore` loads neither segno, psycopg nor sqlite3 (docs/design.md, "Layers")."""
    probe = (
        "import sys, totpcore; print(sorted(m for m in ('segno', 'psycopg', 'sqlite3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
