"""Server-side sessions: the browser holds a random id, everything else stays in this process.

An in-memory dict is enough for one example process; a deployment with several app
servers keeps the same fields in a shared store (a database table, Redis). Nothing
secret ever reaches the cookie: the pending enrolment (its secret and QR code) and the
recovery codes to show once live here, and the codes are dropped the moment the page
that shows them is rendered.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from totpcore import Enrollment

#: A session unused this long is gone (OWASP ASVS 3.3.2: an idle timeout; a shared ward PC).
IDLE_SECONDS: Final = 15 * 60
#: A session older than this is gone whatever its use (OWASP ASVS 3.3.1).
LIFETIME_SECONDS: Final = 12 * 3600
#: Sessions kept at most; past it the least recently used go first (a flood of anonymous visits).
MAX_SESSIONS: Final = 10_000


class Stage(enum.Enum):
    """How far the browser has come through the sign-in."""

    ANONYMOUS = "anonymous"  # nothing proved yet (the sign-in form's CSRF token lives here)
    SECOND_FACTOR = "second_factor"  # password right; the code is asked next
    ENROLL = "enroll"  # password right; MFA is mandatory and must be set up before anything else
    SIGNED_IN = "signed_in"


@dataclass(slots=True)
class Session:
    """One browser's state. Only :class:`SessionStore` creates them."""

    id: str
    csrf: str
    created: float
    seen: float
    user_id: str | None = None
    stage: Stage = Stage.ANONYMOUS
    enrollment: Enrollment | None = None  # the pending secret: shown until confirmed, never in the cookie
    fresh_codes: list[str] | None = None  # recovery codes to show once, then forgotten
    notices: list[str] = field(default_factory=list)  # messages for the next page
    error: str | None = None  # a refusal for the next page (after a redirect)

    def take_notices(self) -> list[str]:
        """The messages waiting for the next page, once."""
        notices, self.notices = self.notices, []
        return notices

    def take_error(self) -> str | None:
        """The refusal waiting for the next page, once."""
        error, self.error = self.error, None
        return error


class SessionStore:
    """The sessions of this process, by id, with idle and absolute expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def get(self, session_id: str | None) -> Session | None:
        """The live session *session_id* names, or ``None`` (unknown or expired: then dropped)."""
        session = self._sessions.get(session_id) if session_id else None
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > IDLE_SECONDS or now - session.created > LIFETIME_SECONDS:
            del self._sessions[session.id]
            return None
        session.seen = now
        self._sessions.move_to_end(session.id)
        return session

    def new(self, user_id: str | None = None, stage: Stage = Stage.ANONYMOUS) -> Session:
        """A new session with a new id and CSRF token (also at every step up: no session fixation)."""
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now, user_id, stage)
        self._sessions[session.id] = session
        return session

    def drop(self, session: Session) -> None:
        """End *session* (sign-out)."""
        self._sessions.pop(session.id, None)

    def drop_user(self, user_id: str) -> None:
        """End every session of *user_id* (after a support reset of their MFA)."""
        for session in [s for s in self._sessions.values() if s.user_id == user_id]:
            self.drop(session)
