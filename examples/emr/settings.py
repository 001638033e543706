"""The example's configuration, read once from the environment (``examples/emr/README.md``, "Settings")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from totpcore import ConfigurationError, Policy, Throttle

ISSUER = "Outsmart EMR"
HOST = "127.0.0.1"  # the example never listens beyond this machine
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the app listens and keeps its data, and the MFA policy.

    Attributes:
        port: the TCP port on 127.0.0.1 (``PORT``, default 8000).
        data_dir: the SQLite file, the key ring and the demo secret (``EMR_DATA_DIR``,
            default ``.emr-data`` in the working directory).
        db_url: the MFA store (``TOTPCORE_DB_URL``, default SQLite in *data_dir*).
        policy: ``mandatory_from`` from ``TOTPCORE_MFA_MANDATORY_FROM`` (Unix seconds) and
            the throttle from ``EMR_THROTTLE`` (``free_attempts=2,base_delay=1,...``).
        fast_hashing: ``EMR_FAST_HASHING=1`` lowers the scrypt cost of the demo passwords
            (tests and screenshots only).
    """

    port: int
    data_dir: Path
    db_url: str
    policy: Policy
    fast_hashing: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the settings from *env* (normally ``os.environ``).

        Raises:
            ConfigurationError: a value that is not a number, or out of range.
        """
        data_dir = Path(env.get("EMR_DATA_DIR", ".emr-data")).resolve()
        mandatory = env.get("TOTPCORE_MFA_MANDATORY_FROM", "").strip()
        return cls(
            port=_number("PORT", env.get("PORT", "8000"), int),
            data_dir=data_dir,
            db_url=env.get("TOTPCORE_DB_URL") or f"sqlite:///{data_dir / 'emr.sqlite3'}",
            policy=Policy(
                mandatory_from=_number("TOTPCORE_MFA_MANDATORY_FROM", mandatory, float)
                if mandatory
                else None,
                throttle=_throttle(env.get("EMR_THROTTLE", "")),
            ),
            fast_hashing=env.get("EMR_FAST_HASHING") == "1",
        )


def _number(name: str, text: str, kind: Callable[[str], T]) -> T:
    try:
        return kind(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number") from None


def _throttle(text: str) -> Throttle:
    """A Throttle from ``field=value,...`` (any of Throttle's fields; the rest keep their defaults)."""
    fields = {field.name: field.type for field in dataclasses.fields(Throttle)}
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in fields:
            raise ConfigurationError(
                f"EMR_THROTTLE: unknown field {name!r}; expected one of {sorted(fields)}"
            )
        values[name] = _number(f"EMR_THROTTLE {name}", value, int if fields[name] == "int" else float)
    return Throttle(**values)
