"""``python -m emr`` (with ``examples`` on the path; ``make example`` does it): serve Outsmart EMR.

Reads the settings from the environment (``examples/emr/README.md``), opens the MFA
service, and serves on http://127.0.0.1:PORT. At each start the demo users' MFA is reset
and ``bruno`` is enrolled afresh; their passwords are printed once, and bruno's
authenticator key is written to a file of mode 0600, not to the console.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import uvicorn

from emr.accounts import DEMO_USERS, FAST, MFA_DEMO_USER, Directory, ScryptCost, demo_directory
from emr.settings import HOST, ISSUER, Settings
from emr.web import Emr, date_text
from totpcore import TOTP, AsyncMfaService, Secret, open_async_service

#: Printed last in the banner: a test (or a person) knows the passwords above it are complete.
READY_LINE = "Outsmart EMR is starting on"


async def seed(mfa: AsyncMfaService, directory: Directory, key_path: Path) -> None:
    """Reset the demo users' MFA, enrol bruno, and write his key to *key_path* (mode 0600).

    The enrolment is confirmed with the code of the previous 30-second step, so the code
    the phone shows now is still unused for the first sign-in.
    """
    for user_id, _, _ in DEMO_USERS:
        await mfa.reset(user_id, actor="emr-demo-setup", reason="the demo accounts are reset at every start")
    account = directory.get(MFA_DEMO_USER)
    assert account is not None  # noqa: S101  # DEMO_USERS holds it
    enrollment = await mfa.begin_enrollment(account.user_id, account=account.email)
    phone = TOTP(Secret.from_base32(enrollment.secret_base32))
    await mfa.confirm_enrollment(account.user_id, phone.at(time.time() - phone.period))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        os.fchmod(file.fileno(), 0o600)  # also when the file was there with a wider mode
        file.write(enrollment.secret_base32 + "\n")


def banner(settings: Settings, directory: Directory, passwords: dict[str, str], key_path: Path) -> str:
    """The start-up text: the URL, the demo accounts and their passwords, how to get bruno's codes."""
    totpcore_cli = Path(sys.executable).with_name("totpcore")
    lines = ["", "Demo accounts (new passwords at every start; MFA reset at every start):"]
    for user_id, _, _ in DEMO_USERS:
        account = directory.get(user_id)
        assert account is not None  # noqa: S101  # DEMO_USERS holds it
        what = "support agent" if account.role.value == "support" else "clinician"
        what += ", MFA enabled" if user_id == MFA_DEMO_USER else ", no MFA"
        lines.append(f"  {user_id:<6} {account.name:<13} {what:<24} password: {passwords[user_id]}")
    mandatory = settings.policy.mandatory_from
    since = "no" if mandatory is None else f"from {date_text(mandatory)}"
    lines += [
        f"{MFA_DEMO_USER}'s authenticator key is in {_short(key_path)} (mode 0600): type it into your app.",
        "Or print his current code:",
        f"  {_short(totpcore_cli)} code --secret-file {_short(key_path)}",
        f"MFA mandatory: {since}",
        f"{READY_LINE} http://{HOST}:{settings.port}",
        "",
    ]
    return "\n".join(lines)


def _short(path: Path) -> str:
    """*path* relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> None:
    """Configure logging, open the service, seed the demo users at start-up, serve until stopped."""
    settings = Settings.from_env(os.environ)
    # Audit events go to the 'totpcore.audit' logger: it must be configured at INFO
    # before the service starts (it refuses a sink that would drop them).
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mfa = open_async_service(
        settings.db_url,
        key_file=settings.data_dir / "mfa.key",
        issuer=ISSUER,
        policy=settings.policy,
        create_key=True,
    )
    directory, passwords = demo_directory(FAST if settings.fast_hashing else ScryptCost())
    key_path = settings.data_dir / f"{MFA_DEMO_USER}.totp"

    async def start() -> None:
        await seed(mfa, directory, key_path)
        print(banner(settings, directory, passwords, key_path), flush=True)

    app = Emr(mfa, directory, on_start=start).asgi()
    uvicorn.run(app, host=HOST, port=settings.port, log_config=None, server_header=False)


if __name__ == "__main__":
    main()
