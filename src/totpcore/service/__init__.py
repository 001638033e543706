"""The MFA flow (enrol, confirm, login, recovery, drift, throttling, support reset), in two faces.

- :class:`MfaService`: blocking, over a :class:`~totpcore.store.Store`.
- :class:`AsyncMfaService`: coroutines, over an :class:`~totpcore.store.AsyncStore`.
- :func:`open_service` / :func:`open_async_service`: either, ready, from a URL and a key file.

Both drive the one flow in ``_flow.py``; ``docs/design.md`` explains the split.
"""

from __future__ import annotations

from totpcore.service.aio import AsyncMfaService
from totpcore.service.model import (
    AuditEvent,
    Enrollment,
    EventType,
    KeyRotation,
    LoginResult,
    Method,
    MfaState,
    Outcome,
    Policy,
    Requirement,
)
from totpcore.service.setup import load_key_ring, open_async_service, open_service
from totpcore.service.sync import MfaService

__all__ = [
    "AsyncMfaService",
    "AuditEvent",
    "Enrollment",
    "EventType",
    "KeyRotation",
    "LoginResult",
    "Method",
    "MfaService",
    "MfaState",
    "Outcome",
    "Policy",
    "Requirement",
    "load_key_ring",
    "open_async_service",
    "open_service",
]
