"""The value types of the store contract."""

from __future__ import annotations

from totpcore.store import Status, UserRecord


def test_record_repr_hides_the_sealed_secret() -> None:
    """A record in a log shows state and counts, not the sealed blob."""
    record = UserRecord(
        user_id="alice",
        status=Status.ENABLED,
        enrollment_id="e" * 32,
        sealed_secret=b"\x01sealed-blob-bytes",
        key_id="k1",
        digits=6,
        period=30,
        algorithm="SHA1",
        last_step=5,
        drift=1,
        failures=0,
        next_attempt_at=0.0,
        recovery_params="$argon2id$...",
        recovery=((0, b"d0"), (1, b"d1")),
        created_at=1.0,
        updated_at=2.0,
        enabled_at=2.0,
    )
    text = repr(record)
    assert "sealed-blob" not in text
    assert "argon2id" not in text
    assert "recovery_left=2" in text
    assert "status=ENABLED" in text
