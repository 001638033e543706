"""Verification of a wrong code with Window(1, 1): the worst case, all three steps computed (issue 3).

Targets of issue 15 part 5 (see bench_generation).
"""

from __future__ import annotations

import pyotp

from harness import Row, compare, micro_rounds
from totpcore import TOTP, InvalidCode, Secret

KEY = bytes(range(20))
T = 1_700_000_000


def rows(scale: float) -> list[Row]:
    """Time verify of a wrong code against pyotp's verify(valid_window=1)."""
    secret = Secret(KEY)
    ours = TOTP(secret)
    peer = pyotp.TOTP(secret.to_base32())
    window_codes = {ours.at(T + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in window_codes)

    def verify() -> None:
        try:
            ours.verify(wrong, at=T)
        except InvalidCode:
            return
        raise AssertionError

    def build_and_verify() -> None:
        try:
            TOTP(secret).verify(wrong, at=T)
        except InvalidCode:
            return
        raise AssertionError

    def peer_verify() -> None:
        if peer.verify(wrong, for_time=T, valid_window=1):
            raise AssertionError

    r = micro_rounds(scale)
    return [
        compare(
            "TOTP.verify(wrong), Window(1, 1)",
            verify,
            "pyotp verify(valid_window=1)",
            peer_verify,
            target=4.3,
            rounds=r,
        ),
        compare(
            "TOTP(secret).verify(wrong)  (build + verify)",
            build_and_verify,
            "pyotp verify(valid_window=1)",
            peer_verify,
            target=3.5,
            rounds=r,
        ),
    ]
