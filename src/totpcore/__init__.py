"""totpcore: RFC 4226 HOTP and RFC 6238 TOTP with a drift-tolerant, replay-safe verifier.

This module only re-exports the public names; the layers behind them are
described in ``docs/design.md`` ("Layers"), their use in ``docs/``.
"""

from __future__ import annotations

from totpcore.errors import (
    ConfigurationError,
    EnrollmentError,
    InvalidCode,
    MalformedCode,
    Outcome,
    PolicyError,
    RecordError,
    ReplayedCode,
    SecretError,
    StoreError,
    TotpcoreError,
    UriError,
    VerificationError,
)
from totpcore.hotp import HOTP, Algorithm, hotp
from totpcore.sealing import KeyRing
from totpcore.secret import Secret
from totpcore.service import (
    AsyncMfaService,
    AuditEvent,
    Enrollment,
    EventType,
    KeyRotation,
    LoginResult,
    Method,
    MfaService,
    MfaState,
    Policy,
    Requirement,
    open_async_service,
    open_service,
)
from totpcore.store.base import Status
from totpcore.throttle import Throttle
from totpcore.totp import TOTP
from totpcore.uri import ProvisioningUri, build_uri, parse_uri
from totpcore.verify import Match, Window

__all__ = [
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
