"""The narrated walkthrough behind ``totpcore demo`` and ``make demo``.

It runs the whole MFA flow (``docs/design.md``, "Enrolment states" and "One login") on the
store it is given (a SQLite file by default), with a simulated phone and a simulated clock
(so drift, throttling delays and lockout take no real time): enrol by QR code, confirm,
log in, replay, recovery code, clock drift, resynchronisation, brute force until lockout,
support reset, enrol again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from totpcore import TOTP, AuditEvent, LoginResult, MfaService, Secret, Status
from totpcore.sealing import KeyRing
from totpcore.store import Store

__all__ = ["USER", "run"]

USER = "demo-alice"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the simulated clock starts here


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class _Phone:
    """An authenticator app whose clock is *skew* seconds off the server's."""

    def __init__(self, secret_base32: str, clock: _Clock) -> None:
        self._totp = TOTP(Secret.from_base32(secret_base32))
        self._clock = clock
        self.skew = 0.0

    def code(self, steps_later: int = 0) -> str:
        return self._totp.at(self._clock.now + self.skew + 30 * steps_later)


def run(*, store: Store, key_file: str, out: TextIO) -> None:
    """Run the walkthrough on *store* (its schema created), with the key ring in *key_file*."""
    say = _Narrator(out)
    keyring = _keyring(Path(key_file), say)
    clock = _Clock()
    events: list[AuditEvent] = []
    service = MfaService(store, issuer="Outsmart EMR", keyring=keyring, clock=clock, audit=events.append)
    _walk(service, clock, say)
    say.step(f"The audit log holds {len(events)} events (never a code, secret or URI). The last three:")
    for event in events[-3:]:
        outcome = f" outcome={event.outcome.value}" if event.outcome is not None else ""
        say.line(f"  {event.type.value}: user={event.user_id}{outcome}")


def _keyring(path: Path, say: _Narrator) -> KeyRing:
    if path.exists():
        say.step(f"Using the key ring in {path} (it seals secrets at rest).")
        return KeyRing.from_file(path)
    keyring = KeyRing.generate()
    keyring.save(path)
    say.step(f"Created a new key ring in {path} with mode 0600 (it seals secrets at rest).")
    return keyring


def _walk(service: MfaService, clock: _Clock, say: _Narrator) -> None:
    if service.status(USER) is not Status.NONE:
        service.reset(USER, actor="demo", reason="start the walkthrough from scratch")

    say.step(f'1. "{USER}" clicks "Enable MFA": the server issues a pending secret and a QR code.')
    enrollment = service.begin_enrollment(USER, account="alice@outsmart.example")
    say.qr(enrollment.uri)
    phone = _Phone(enrollment.secret_base32, clock)
    say.line(f"   status: {service.status(USER).name}")

    say.step("2. She scans it and types the first code; MFA is enabled and 5 recovery codes are shown once.")
    codes = service.confirm_enrollment(USER, phone.code())
    say.line(f"   status: {service.status(USER).name}; recovery codes: {', '.join(codes)}")
    say.result("   the confirming code, used again to log in", service.verify(USER, phone.code()))
    _login_and_recovery(service, clock, phone, codes, say)
    _drift_and_resync(service, clock, phone, say)
    _brute_force(service, clock, phone, say)
    _reset_and_enrol_again(service, clock, say)


def _login_and_recovery(
    service: MfaService, clock: _Clock, phone: _Phone, codes: list[str], say: _Narrator
) -> None:
    clock.now += 30
    say.step("3. Later she logs in with a fresh code; replaying it is refused.")
    say.result("   fresh code", service.verify(USER, phone.code()))
    say.result("   the same code again", service.verify(USER, phone.code()))

    say.step("4. Phone forgotten: she uses a recovery code. Each works once.")
    say.result(f"   {codes[0]}", service.verify(USER, codes[0]))
    say.result(f"   {codes[0]} again", service.verify(USER, codes[0]))


def _drift_and_resync(service: MfaService, clock: _Clock, phone: _Phone, say: _Narrator) -> None:
    clock.now = (clock.now // 30 + 100) * 30
    say.step("5. Her phone's clock runs 40 s fast: accepted one step ahead, and the drift is learned.")
    phone.skew = 40
    say.result("   code from a phone 40 s fast", service.verify(USER, phone.code()))
    clock.now += 300
    phone.skew = 70
    say.step("   Later it is 70 s fast: outside the default window, accepted thanks to the learned drift.")
    say.result("   code from a phone 70 s fast", service.verify(USER, phone.code()))

    clock.now += 300
    phone.skew = 3 * 3600
    say.step("6. After a trip her phone is 3 hours off: a code is refused; two consecutive codes resync it.")
    say.result("   code from a phone 3 h fast", service.verify(USER, phone.code()))
    say.result("   resync with two consecutive codes", service.resync(USER, [phone.code(), phone.code(1)]))
    clock.now += 60
    say.result("   next login with the same phone", service.verify(USER, phone.code()))


def _brute_force(service: MfaService, clock: _Clock, phone: _Phone, say: _Narrator) -> None:
    say.step("7. Someone who knows her password guesses codes: throttled, then locked.")
    lockout = service.policy.throttle.lockout
    for attempt in range(1, lockout + 1):
        result = service.verify(USER, _wrong(phone))
        while result.retry_after:
            say.line(f"   attempt {attempt}: THROTTLED, retry after {result.retry_after:.0f} s (waiting)")
            clock.now += result.retry_after
            result = service.verify(USER, _wrong(phone))
        say.result(f"   attempt {attempt}", result)
    say.result("   even the right code now", service.verify(USER, phone.code()))
    say.line(f"   status: {service.status(USER).name}")


def _reset_and_enrol_again(service: MfaService, clock: _Clock, say: _Narrator) -> None:
    say.step("8. She calls support. Support verifies her identity, then resets MFA (it cannot be disabled).")
    service.reset(USER, actor="support:bob", reason="ticket 4711: locked after guessing")
    say.line(f"   status: {service.status(USER).name}")

    say.step("9. She enrols again with a new secret.")
    enrollment = service.begin_enrollment(USER, account="alice@outsmart.example")
    phone = _Phone(enrollment.secret_base32, clock)
    service.confirm_enrollment(USER, phone.code())
    clock.now += 30
    say.result("   login with the new phone", service.verify(USER, phone.code()))


def _wrong(phone: _Phone) -> str:
    """A guess that no step near the phone's clock produces."""
    near = {phone.code(k) for k in range(-3, 4)}
    return next(guess for guess in ("000000", "111111", "222222", "333333") if guess not in near)


class _Narrator:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def line(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def step(self, text: str) -> None:
        self.line("")
        self.line(text)

    def result(self, what: str, result: LoginResult) -> None:
        details = []
        if result.method is not None:
            details.append(result.method.value)
        if result.recovery_codes_left is not None:
            details.append(f"{result.recovery_codes_left} recovery codes left")
        suffix = f" ({', '.join(details)})" if details else ""
        self.line(f"{what}: {result.outcome.name}{suffix}")

    def qr(self, uri: str) -> None:
        from totpcore import qr  # noqa: PLC0415  # segno is imported on first use

        try:
            self.line(qr.terminal(uri))
        except ImportError:
            self.line("   (install the qr extra to see the QR code here: pip install 'totpcore[qr]')")
