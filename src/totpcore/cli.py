"""The ``totpcore`` command line (also ``python -m totpcore``).

Commands: ``demo``, ``selftest``, ``code``, ``uri``, ``admin``. Secrets are read from a
file, an environment variable or standard input, never from a command-line argument:
arguments are visible to every user of the machine in the process list (``ps``).

Exit codes:
    0: success.
    1: a check failed or the request was refused (selftest mismatch, unknown user).
    2: bad usage or bad input (arguments, URI, secret, key file, database URL, missing extra).
    3: the database failed.

``admin`` writes one ``audit: ...`` line per support action to standard error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from totpcore._selftest import check_rfc4226, check_rfc6238
from totpcore.errors import StoreError, TotpcoreError
from totpcore.hotp import HOTP, Algorithm
from totpcore.sealing import KeyRing
from totpcore.secret import Secret
from totpcore.service import AuditEvent, MfaService
from totpcore.store import Status, open_store
from totpcore.totp import TOTP
from totpcore.uri import build_uri, parse_uri

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_STORE", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STORE = 3
#: Where `admin` finds the database URL when --db is not given (keeps passwords out of ps).
DB_ENV_VAR = "TOTPCORE_DB_URL"


class CliError(Exception):
    """A one-line message for stderr, and the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# -- reading secrets ----------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(
            f"cannot read {path}: {getattr(error, 'strerror', None) or 'not UTF-8 text'}"
        ) from None


def _secret_text(args: argparse.Namespace, stdin: TextIO) -> str:
    """The secret or URI text from --*-file, --secret-env, or standard input."""
    if getattr(args, "uri_file", None):
        return _read_text(args.uri_file)
    if args.secret_file:
        return _read_text(args.secret_file)
    if args.secret_env:
        value = os.environ.get(args.secret_env)
        if value is None:
            raise CliError(f"environment variable {args.secret_env} is not set")
        return value.strip()
    if stdin.isatty():
        raise CliError("give the secret with --secret-file, --secret-env or on standard input")
    return stdin.read().strip()


def _unix_time(text: str) -> float | dt.datetime:
    """Unix seconds, or an ISO 8601 time with a zone (``2026-11-29T10:00:00Z``).

    The aware datetime is passed on as it is: TOTP floors it exactly, where a float
    would round the last microsecond of a step into the next one.
    """
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--at {text!r} is neither Unix seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise CliError("--at needs a time zone (e.g. 2026-11-29T10:00:00Z) or Unix seconds")
    return moment


# -- commands -----------------------------------------------------------------------


def _selftest(_: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failures = check_rfc4226() + check_rfc6238()
    for line in failures:
        print(f"FAIL {line}", file=err)
    if failures:
        return EXIT_FAILED
    print("selftest: RFC 4226 Appendix D and RFC 6238 Appendix B vectors all match", file=out)
    return EXIT_OK


def _code(args: argparse.Namespace, out: TextIO, _: TextIO) -> int:
    text = _secret_text(args, sys.stdin)
    algorithm = Algorithm[args.algorithm]
    if text.lower().startswith("otpauth:"):
        provisioning = parse_uri(text, allow_short=args.allow_short)
        otp = provisioning.otp
        if isinstance(otp, HOTP):
            counter = args.counter if args.counter is not None else provisioning.counter
            print(otp.at(counter if counter is not None else 0), file=out)
            return EXIT_OK
        if args.counter is not None:
            raise CliError("--counter is for HOTP; this URI is a TOTP (use --at)")
    else:
        secret = Secret.from_base32(text, allow_short=args.allow_short)
        if args.counter is not None:
            print(HOTP(secret, digits=args.digits, algorithm=algorithm).at(args.counter), file=out)
            return EXIT_OK
        otp = TOTP(secret, digits=args.digits, period=args.period, algorithm=algorithm)
    at = _unix_time(args.at) if args.at is not None else None
    print(otp.now() if at is None else otp.at(at), file=out)
    return EXIT_OK


def _uri(args: argparse.Namespace, out: TextIO, _: TextIO) -> int:
    if args.generate and (args.secret_file or args.secret_env):
        raise CliError("--generate and a secret source exclude each other")
    if args.generate:
        secret = Secret.generate()
    else:
        secret = Secret.from_base32(_secret_text(args, sys.stdin), allow_short=args.allow_short)
    otp = TOTP(secret, digits=args.digits, period=args.period, algorithm=Algorithm[args.algorithm])
    uri = build_uri(otp, account=args.account, issuer=args.issuer)
    if args.qr is None:
        print(uri, file=out)
        return EXIT_OK
    from totpcore import qr  # noqa: PLC0415  # optional extra, imported on use

    kind, _, path = args.qr.partition(":")
    if kind == "terminal" and not path:
        print(qr.terminal(uri), file=out)
    elif kind == "svg" and path:
        _write_new(path, qr.svg(uri).encode("utf-8"))
    elif kind == "png" and path:
        _write_new(path, qr.png(uri))
    else:
        raise CliError("--qr is terminal, svg:PATH or png:PATH")
    return EXIT_OK


def _write_new(path: str, data: bytes) -> None:
    """Write a file that holds a secret: created new, mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise CliError(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _admin(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    url = args.db or os.environ.get(DB_ENV_VAR)
    if not url:
        raise CliError(f"give the database with --db URL or the {DB_ENV_VAR} environment variable")
    keyring = KeyRing.from_file(args.key_file)
    if args.action == "rotate-keys" and args.new_key:
        keyring = keyring.rotated()
        _replace_key_file(args.key_file, keyring)
        print(f"added key {keyring.current} to {args.key_file}; it seals from now on", file=out)

    def audit(event: AuditEvent) -> None:
        print(f"audit: {event.describe()}", file=err)  # support actions leave a trace

    store = open_store(url)
    try:
        service = MfaService(store, issuer="totpcore admin", keyring=keyring, audit=audit)
        if args.action == "rotate-keys":
            rotation = service.rotate_keys()
            print(f"re-sealed {rotation.resealed} user(s) under key {keyring.current}", file=out)
            for user in rotation.skipped:
                print(f"skipped {user!r}: its stored row cannot be re-sealed (see the audit trail)", file=err)
            return EXIT_FAILED if rotation.skipped else EXIT_OK
        status = service.status(args.user)
        if status is Status.NONE:
            raise CliError(f"no MFA record for user {args.user!r}", EXIT_FAILED)
        if args.action == "status":
            print(status.name, file=out)
        else:
            service.reset(args.user, actor=args.actor, reason=args.reason)
            print(f"reset MFA for {args.user!r}; the user must enrol again", file=out)
        return EXIT_OK
    finally:
        store.close()


def _replace_key_file(path: str, keyring: KeyRing) -> None:
    """Replace the key file atomically, keeping mode 0600 (old keys stay inside)."""
    temporary = f"{path}.new"
    keyring.save(temporary)  # created new, mode 0600
    Path(temporary).replace(path)


def _demo(args: argparse.Namespace, out: TextIO, _: TextIO) -> int:
    from totpcore import _demo as demo  # noqa: PLC0415  # pulls in the service and a store

    return demo.run(db=args.db, key_file=args.key_file, out=out)


# -- parser -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"totpcore: {self.prog}: {message} (see --help)\n")


def _secret_sources(parser: argparse.ArgumentParser, *, uri: bool) -> None:
    source = parser.add_mutually_exclusive_group()
    if uri:
        source.add_argument("--uri-file", metavar="PATH", help="a file holding an otpauth:// URI")
    source.add_argument("--secret-file", metavar="PATH", help="a file holding a base32 secret")
    source.add_argument("--secret-env", metavar="VAR", help="an environment variable holding the secret")
    parser.add_argument(
        "--allow-short",
        action="store_true",
        help="accept a legacy secret of 80 to 120 bits (not for new secrets)",
    )


def _otp_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--digits", type=int, default=6, choices=(6, 7, 8), help="code length (default 6)")
    parser.add_argument(
        "--period", type=int, default=30, metavar="S", help="time step in seconds (default 30)"
    )
    parser.add_argument("--algorithm", default="SHA1", choices=[a.name for a in Algorithm], help="HMAC hash")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="totpcore",
        description="RFC 4226 HOTP and RFC 6238 TOTP two-factor authentication.",
        epilog="Exit codes: 0 success, 1 check failed or refused, 2 bad usage or input, 3 database error. "
        "Secrets are never taken as arguments: process lists show arguments to every user.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="a narrated walkthrough of the whole MFA flow on SQLite")
    demo.add_argument("--db", default="totpcore-demo.sqlite3", metavar="PATH", help="the SQLite file to use")
    demo.add_argument(
        "--key-file",
        default="totpcore-demo.key",
        metavar="PATH",
        help="key ring; created (mode 0600) if missing",
    )
    demo.set_defaults(run=_demo)

    commands.add_parser("selftest", help="check the RFC 4226 and RFC 6238 test vectors").set_defaults(
        run=_selftest
    )

    code = commands.add_parser(
        "code", help="print the current code, like oathtool", description="Secret from a file, env or stdin."
    )
    _secret_sources(code, uri=True)
    _otp_options(code)
    code.add_argument("--at", metavar="TIME", help="Unix seconds or ISO 8601 with a zone (default: now)")
    code.add_argument("--counter", type=int, metavar="N", help="print the HOTP code at counter N instead")
    code.set_defaults(run=_code)

    uri = commands.add_parser("uri", help="build an otpauth:// URI (and QR code) for a secret")
    uri.add_argument("--account", required=True, help="the account name the app shows")
    uri.add_argument("--issuer", required=True, help="the service name the app shows")
    _secret_sources(uri, uri=False)
    uri.add_argument("--generate", action="store_true", help="generate a new 160-bit secret")
    _otp_options(uri)
    uri.add_argument("--qr", metavar="KIND", help="terminal, svg:PATH or png:PATH (needs the qr extra)")
    uri.set_defaults(run=_uri)

    admin = commands.add_parser("admin", help="support operations on an MFA database")
    admin.add_argument(
        "--db",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://... (default: ${DB_ENV_VAR}; keep passwords there)",
    )
    admin.add_argument("--key-file", required=True, metavar="PATH", help="the key ring (JSON, mode 0600)")
    actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="print NONE, PENDING, ENABLED or LOCKED").add_argument("user")
    reset = actions.add_parser("reset", help="wipe a user's MFA; the user must enrol again")
    reset.add_argument("user")
    reset.add_argument("--actor", required=True, help="who performs the reset (audited)")
    reset.add_argument("--reason", required=True, help="why, e.g. a ticket number (audited)")
    rotate = actions.add_parser("rotate-keys", help="re-seal every secret under the key file's current key")
    rotate.add_argument(
        "--new-key",
        action="store_true",
        help="first add a new random key to the key file and make it current",
    )
    admin.set_defaults(run=_admin)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line and return the exit code (argparse exits 2 on usage errors)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        return run(args, out, err)
    except CliError as error:
        return _fail(err, str(error), error.code)
    except StoreError as error:
        return _fail(err, str(error), EXIT_STORE)
    except (TotpcoreError, ImportError, OSError) as error:
        return _fail(err, str(error) or type(error).__name__, EXIT_USAGE)


def _fail(err: TextIO, message: str, code: int) -> int:
    print(f"totpcore: {message}", file=err)
    return code
