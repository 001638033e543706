"""Persistence of MFA state behind one protocol (DESIGN.md section 7)."""

from __future__ import annotations

from totpcore.store.base import SCHEMA_VERSION, Claim, ClaimResult, Status, Store, UserRecord

__all__ = ["SCHEMA_VERSION", "Claim", "ClaimResult", "Status", "Store", "UserRecord"]
