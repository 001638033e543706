"""The example's user directory: who may sign in, with which password, in which role.

An EMR keeps its users in its own database; this example keeps three demo users in
memory, with passwords new at each start. What matters here is the password check:
scrypt with a per-user salt at OWASP's minimum cost (Password Storage Cheat Sheet:
N=2**17, r=8, p=1), normalised input (NIST SP 800-63B §5.1.1.2), a constant-time
comparison, and the same work for an unknown user as for a known one, so neither the
answer nor its timing tells which user names exist.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: The longest password accepted (NIST SP 800-63B §5.1.1.2 asks for at least 64).
MAX_PASSWORD: Final = 256
# Letters and digits that cannot be mistaken for one another when read off a terminal.
_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """The scrypt parameters of one stored hash (kept with it, so the cost can be raised later)."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    def hash(self, password: str, salt: bytes) -> bytes:
        """The 32-byte scrypt hash of *password* (NFKC-normalised, UTF-8) under *salt*."""
        data = unicodedata.normalize("NFKC", password).encode("utf-8")
        return hashlib.scrypt(
            data, salt=salt, n=self.n, r=self.r, p=self.p, maxmem=256 * self.n * self.r, dklen=32
        )


#: A cost for tests and screenshots only (EMR_FAST_HASHING=1): 64 times cheaper.
FAST: Final = ScryptCost(n=2**11)


class Role(enum.Enum):
    """What a user may do besides reading records."""

    CLINICIAN = "clinician"
    SUPPORT = "support"  # may open the support console and reset another user's MFA


@dataclass(frozen=True, slots=True)
class Account:
    """One user: the id totpcore knows them by, how they are shown, and their password hash."""

    user_id: str
    name: str
    email: str
    role: Role
    cost: ScryptCost
    salt: bytes
    password_hash: bytes

    @property
    def initials(self) -> str:
        """The initials shown top right, e.g. ``AM`` for Alice Martin."""
        return "".join(part[0] for part in self.name.split()[:2]).upper()

    @classmethod
    def create(cls, user_id: str, name: str, role: Role, password: str, cost: ScryptCost) -> Account:
        """A new account whose password is hashed under a fresh 16-byte salt."""
        salt = secrets.token_bytes(16)
        email = f"{user_id}@outsmart.example"
        return cls(user_id, name, email, role, cost, salt, cost.hash(password, salt))


class Directory:
    """The users, by id. Read-only once built."""

    def __init__(self, accounts: Iterable[Account], cost: ScryptCost) -> None:
        self._accounts = {account.user_id: account for account in accounts}
        # Each scrypt evaluation takes 128 MiB at the full cost: at most two run at once.
        self._hashing = asyncio.Semaphore(2)
        # Checked when the user name is unknown, so that the answer takes as long.
        self._decoy = Account.create("decoy", "Decoy", Role.CLINICIAN, secrets.token_urlsafe(), cost)

    def get(self, user_id: str) -> Account | None:
        """The account *user_id* names, or ``None``."""
        return self._accounts.get(user_id)

    def search(self, text: str) -> list[Account]:
        """Accounts whose id or name contains *text* (case-insensitive), sorted by id."""
        needle = text.strip().casefold()
        return sorted(
            (
                a
                for a in self._accounts.values()
                if needle in a.user_id.casefold() or needle in a.name.casefold()
            ),
            key=lambda account: account.user_id,
        )

    async def authenticate(self, user_id: str, password: str) -> Account | None:
        """The account if *password* is its password, else ``None`` (unknown user or wrong password).

        The hash runs in a worker thread, never on the event loop.
        """
        account = self._accounts.get(user_id)
        candidate = account or self._decoy
        if len(password) > MAX_PASSWORD:
            return None
        async with self._hashing:
            digest = await asyncio.to_thread(candidate.cost.hash, password, candidate.salt)
        if hmac.compare_digest(digest, candidate.password_hash) and account is not None:
            return account
        return None


def new_password() -> str:
    """A random password of 16 characters in four groups (about 79 bits), e.g. ``k7qm-w2xd-9pfr-h3tz``."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


#: The demo users: (id, name, role). ``bruno`` has MFA enrolled at every start.
DEMO_USERS: Final = (
    ("alice", "Alice Martin", Role.CLINICIAN),
    ("bruno", "Bruno Costa", Role.CLINICIAN),
    ("sam", "Sam Okafor", Role.SUPPORT),
)
MFA_DEMO_USER: Final = "bruno"


def demo_directory(cost: ScryptCost) -> tuple[Directory, dict[str, str]]:
    """The demo directory and each demo user's new password (to print once, at start)."""
    passwords = {user_id: new_password() for user_id, _, _ in DEMO_USERS}
    accounts = [Account.create(uid, name, role, passwords[uid], cost) for uid, name, role in DEMO_USERS]
    return Directory(accounts, cost), passwords
