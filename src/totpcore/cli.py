"""The ``totpcore`` command line.

Exit codes: 0 success, 1 a check failed (``selftest``), 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from totpcore._selftest import check_rfc4226, check_rfc6238
from totpcore.secret import Secret
from totpcore.totp import TOTP

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _selftest(_: argparse.Namespace) -> int:
    failures = check_rfc4226() + check_rfc6238()
    for line in failures:
        print(f"FAIL {line}", file=sys.stderr)
    if failures:
        return EXIT_FAILED
    print("selftest: RFC 4226 Appendix D and RFC 6238 Appendix B vectors all match")
    return EXIT_OK


def _demo(_: argparse.Namespace) -> int:
    secret = Secret.generate()
    otp = TOTP(secret)
    print(f"A fresh secret: {secret!r} (the secret itself is never printed)")
    for t in (1_700_000_000, 1_700_000_030, 1_700_000_060):
        print(f"  t={t} step={otp.step_at(t)} code={otp.at(t)}")
    match = otp.verify(otp.at(1_700_000_030), at=1_700_000_000)
    print(f"A code from a phone 30 s fast is accepted at step {match.step}, offset {match.offset:+d}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="totpcore", description="RFC 4226 HOTP and RFC 6238 TOTP two-factor authentication."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("selftest", help="check the RFC 4226 and RFC 6238 test vectors").set_defaults(
        run=_selftest
    )
    commands.add_parser("demo", help="a short walkthrough").set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``) and return the exit code."""
    args = _parser().parse_args(argv)
    result: int = args.run(args)
    return result
