"""The async example of docs/integration.md runs, and its handlers do what the page says."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from totpcore import TOTP, AsyncMfaService, AuditEvent, KeyRing, Policy, Secret
from totpcore.recovery import Argon2Params
from totpcore.throttle import Throttle

DOC = Path(__file__).resolve().parent.parent / "docs" / "integration.md"
Session = dict[str, object]


def example() -> str:
    """The Python block of the "Async backends" section."""
    section = DOC.read_text(encoding="utf-8").split("## Async backends", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_async_example_runs(tmp_path: Path) -> None:
    """Enrolled users are asked for a code; accepted, replayed, throttled and locked get their answers."""
    KeyRing.generate().save(tmp_path / "k")
    events: list[AuditEvent] = []
    now = [1_767_225_610.0]
    namespace: dict[str, object] = {
        "DB_URL": f"sqlite:///{tmp_path / 'mfa.db'}",
        "KEY_FILE": tmp_path / "k",
        "AUDIT": events.append,
        "NOW": now,
        "POLICY": Policy(
            recovery_kdf=Argon2Params(8, 1, 1), throttle=Throttle(free_attempts=1, lockout=4, base_delay=10.0)
        ),
    }
    # The page's call, with the test's clock and a fast policy added.
    code = example().replace("audit=AUDIT)", "audit=AUDIT, clock=lambda: NOW[0], policy=POLICY)")
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    mfa = cast("AsyncMfaService", namespace["mfa"])
    after_password = cast("Callable[[Session], Awaitable[str]]", namespace["after_password"])
    submit = cast("Callable[[Session, str], Awaitable[tuple[int, str]]]", namespace["submit_code"])
    not_valid = (401, "The code is not valid.")

    async def body() -> None:
        session: Session = {"user_id": "alice"}
        assert await after_password(session) == "/"
        enrollment = await mfa.begin_enrollment("alice", account="alice")
        phone = TOTP(Secret.from_base32(enrollment.secret_base32))
        await mfa.confirm_enrollment("alice", phone.at(now[0]))
        assert await after_password(session) == "/mfa/code"
        assert session["mfa_ok"] is False
        now[0] += 30
        assert await submit(session, phone.at(now[0])) == (303, "/")
        assert session.get("mfa_ok") is True
        assert await submit(session, phone.at(now[0])) == not_valid  # replayed: 1st failure, free
        assert await submit(session, "000000") == not_valid  # 2nd: wait 10 s before the next
        assert await submit(session, "000000") == (429, "Too many attempts. Try again in 10 seconds.")
        now[0] += 10
        assert await submit(session, "111111") == not_valid  # 3rd
        now[0] += 20
        locked = await submit(session, "222222")  # 4th: the lockout
        assert locked[0] == 403
        assert await after_password(session) == "/mfa/locked"
        await mfa.close()

    asyncio.run(body())
    assert len(events) == 8  # started, confirmed, then one per attempt
