"""Run the RFC 4226 and RFC 6238 test vectors against the installed copy of totpcore.

The vector files ship inside the package (``totpcore/_vectors``) so that a user's CI
can check the copy it actually installed: ``python -m totpcore selftest``.
"""

from __future__ import annotations

from importlib import resources

from totpcore.hotp import HOTP, Algorithm, truncate
from totpcore.secret import Secret
from totpcore.totp import TOTP

__all__ = ["check_rfc4226", "check_rfc6238", "load_vectors"]


def load_vectors(name: str) -> list[dict[str, str]]:
    """Parse a vector file: ``KEY = value`` lines, ``#`` comments, ``COUNT`` opens a record."""
    text = resources.files("totpcore").joinpath("_vectors", name).read_text(encoding="ascii")
    records: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" = ")
        if key == "COUNT":
            records.append({})
        records[-1][key] = value
    return records


def check_rfc4226() -> list[str]:
    """Return one line per RFC 4226 Appendix D value that totpcore does not reproduce."""
    failures = []
    for v in load_vectors("rfc4226.txt"):
        otp = HOTP(Secret(v["SECRET"].encode("ascii")))
        counter = int(v["COUNT"])
        mac = otp.digest(counter)
        got = (mac.hex(), truncate(mac), otp.at(counter))
        want = (v["HMAC"], int(v["TRUNCATED_HEX"], 16), v["HOTP"])
        if got != want:
            failures.append(f"RFC 4226 counter {counter}: expected {want}, got {got}")
    return failures


def check_rfc6238() -> list[str]:
    """Return one line per RFC 6238 Appendix B value that totpcore does not reproduce."""
    failures = []
    for v in load_vectors("rfc6238.txt"):
        otp = TOTP(Secret(v["SECRET"].encode("ascii")), digits=8, algorithm=Algorithm[v["MODE"]])
        t = int(v["TIME"])
        got = (otp.step_at(t), otp.at(t))
        want = (int(v["T"], 16), v["TOTP"])
        if got != want:
            failures.append(f"RFC 6238 {v['MODE']} at t={t}: expected {want}, got {got}")
    return failures
