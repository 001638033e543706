"""What both faces of the service share: argument checks, the default audit sink, the flow core."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from totpcore.errors import ConfigurationError
from totpcore.sealing import KeyRing
from totpcore.service._flow import Core
from totpcore.service._gate import KdfGate, gate_for
from totpcore.service.model import AuditEvent, Policy

__all__ = ["AUDIT_LOGGER", "Face", "log_event"]

#: The logger of the default audit sink.
AUDIT_LOGGER: Final = "totpcore.audit"


def log_event(event: AuditEvent) -> None:
    """The default audit sink: one INFO record on the ``totpcore.audit`` logger."""
    logging.getLogger(AUDIT_LOGGER).info("%s", event.describe(), extra={"totpcore_event": event})


def _check_audit_logging() -> None:
    """Refuse the default sink when its records would go nowhere (fail at start-up, not in an audit).

    Python drops INFO records silently unless logging is configured: an EMR must not run
    with an audit trail that is written nowhere.
    """
    logger = logging.getLogger(AUDIT_LOGGER)
    if not (logger.isEnabledFor(logging.INFO) and logger.hasHandlers()):
        raise ConfigurationError(
            f"audit events would be lost: the {AUDIT_LOGGER!r} logger has no handler at INFO. "
            "Configure logging first (for example logging.basicConfig(level=logging.INFO)), "
            "or pass audit=<a callable that stores AuditEvent records>"
        )


class Face:
    """The constructor and the read-only properties of MfaService and AsyncMfaService.

    Args:
        issuer: the name authenticator apps show, e.g. ``"Outsmart EMR"``.
        keyring: seals secrets and recovery digests at rest.
        policy: window, drift, throttling, recovery-code and mandatory-MFA rules.
        clock: returns Unix seconds; injected so tests (and replays of logs) control time.
        audit: receives one :class:`~totpcore.AuditEvent` per attempt and per state
            change. ``None`` logs each on the ``totpcore.audit`` logger at INFO, and is
            refused (ConfigurationError) when that logger would drop them.

    Raises:
        TypeError, ConfigurationError: bad arguments.
    """

    def __init__(
        self,
        *,
        issuer: str,
        keyring: KeyRing,
        policy: Policy | None,
        clock: Callable[[], float],
        audit: Callable[[AuditEvent], object] | None,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer must be a non-empty str")
        if not isinstance(keyring, KeyRing):
            raise TypeError("keyring must be a totpcore.KeyRing")
        policy = policy if policy is not None else Policy()
        if type(policy) is not Policy:
            raise TypeError("policy must be a totpcore.Policy")
        if not callable(clock):
            raise TypeError("clock must be a callable returning Unix seconds")
        if audit is None:
            _check_audit_logging()
            audit = log_event
        elif not callable(audit):
            raise TypeError("audit must be a callable taking an AuditEvent")
        self._core = Core(issuer=issuer, keyring=keyring, policy=policy, clock=clock)
        self._audit = audit
        self._gate: KdfGate = gate_for(policy.kdf_slots)

    @property
    def policy(self) -> Policy:
        """The rules in force."""
        return self._core.policy

    @property
    def keyring(self) -> KeyRing:
        """The key ring that seals secrets and recovery digests."""
        return self._core.keyring
