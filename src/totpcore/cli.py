"""The ``totpcore`` command line (also ``python -m totpcore``).

Commands: ``demo``, ``selftest``, ``code``, ``uri``, ``admin``. Secrets are read from a
file, an environment variable or standard input, never from a command-line argument:
arguments are visible to every user of the machine in the process list (``ps``). The
argument parser never repeats a value it refuses, since it could be a secret typed by
mistake.

Exit codes:
    0: success.
    1: a check failed or the request was refused (selftest mismatch, unknown user).
    2: bad usage or bad input (arguments, URI, secret, key file, database URL, missing extra).
    3: the database failed (including a SQLite file that does not exist: only ``demo``
       creates one).
    141: standard output was closed early (``totpcore selftest | true``): nothing more
       is printed, as for a tool stopped by SIGPIPE (128 + 13).

``admin`` writes one ``audit: ...`` line per support action to standard error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from totpcore import (
    HOTP,
    TOTP,
    Algorithm,
    AuditEvent,
    MfaService,
    RecordError,
    Secret,
    Status,
    StoreError,
    TotpcoreError,
    build_uri,
    parse_uri,
)
from totpcore._selftest import check_rfc4226, check_rfc6238
from totpcore.sealing import KeyRing
from totpcore.store import Store, open_store

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PIPE", "EXIT_STORE", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_PIPE = 141
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
    """The secret or URI text from --*-file, --secret-env, or standard input.

    A file is read as what its option names: ``--uri-file`` must hold an ``otpauth:`` URI
    and ``--secret-file`` must not.
    """
    uri_file = getattr(args, "uri_file", None)
    if uri_file:
        text = _read_text(uri_file)
        if not _is_uri(text):
            raise CliError(f"{uri_file} holds no otpauth:// URI (a base32 secret goes in --secret-file)")
        return text
    if args.secret_file:
        text = _read_text(args.secret_file)
        if _is_uri(text):
            raise CliError(
                f"{args.secret_file} holds an otpauth:// URI, not a base32 secret (use --uri-file)"
            )
        return text
    if args.secret_env:
        value = os.environ.get(args.secret_env)
        if value is None:
            raise CliError(f"environment variable {args.secret_env} is not set")
        return value.strip()
    if stdin.isatty():
        raise CliError("give the secret with --secret-file, --secret-env or on standard input")
    return stdin.read().strip()


def _is_uri(text: str) -> bool:
    return text.lower().startswith("otpauth:")


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
    if _is_uri(text):
        provisioning = parse_uri(text, allow_short=args.allow_short)
        otp = provisioning.otp
        if isinstance(otp, HOTP):
            counter = args.counter if args.counter is not None else provisioning.counter
            print(otp.at(counter or 0), file=out)
            return EXIT_OK
        if args.counter is not None:
            raise CliError("--counter is for HOTP; this URI is a TOTP (use --at)")
    else:
        secret = Secret.from_base32(text, allow_short=args.allow_short)
        algorithm = Algorithm[args.algorithm]
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
    if args.output is not None:
        _write_new(args.output, f"{uri}\n".encode("ascii"))
    elif args.qr is None:
        print(uri, file=out)
    else:
        _qr(args.qr, uri, out)
    return EXIT_OK


def _qr(kind_and_path: str, uri: str, out: TextIO) -> None:
    from totpcore import qr  # noqa: PLC0415  # optional extra, imported on use

    kind, _, path = kind_and_path.partition(":")
    if kind == "terminal" and not path:
        print(qr.terminal(uri), file=out)
    elif kind == "svg" and path:
        _write_new(path, qr.svg(uri).encode("utf-8"))
    elif kind == "png" and path:
        _write_new(path, qr.png(uri))
    else:
        raise CliError("--qr is terminal, svg:PATH or png:PATH")


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

    def audit(event: AuditEvent) -> None:
        print(f"audit: {event.describe()}", file=err)  # support actions leave a trace

    store = _open_database(url, must_exist=True)
    try:
        if args.action == "rotate-keys":
            return _rotate_keys(args, store, keyring, out, audit)
        service = MfaService(store, issuer="totpcore admin", keyring=keyring, audit=audit)
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


def _rotate_keys(
    args: argparse.Namespace, store: Store, keyring: KeyRing, out: TextIO, audit: Callable[[AuditEvent], None]
) -> int:
    """Re-seal under the current key, after checking that the ring holds every key in use.

    With ``--new-key`` the key file is replaced only once that check passed: a wrong key
    file is refused before anything is written, to the file or to the database. A row
    that cannot be re-sealed (altered, corrupt) is skipped and named, exit 1.
    """
    new = keyring.rotated() if args.new_key else keyring
    missing = _keys_missing(store, keyring, new.current)
    if missing:
        raise CliError(
            f"the key file lacks key(s) {', '.join(sorted(missing))} that stored secrets are sealed "
            "under: is it the right key file? Nothing was written"
        )
    if args.new_key:
        _replace_key_file(args.key_file, new)
        print(f"added key {new.current} to {args.key_file}; it seals from now on", file=out)
    rotation = MfaService(store, issuer="totpcore admin", keyring=new, audit=audit).rotate_keys()
    print(f"re-sealed {rotation.resealed} user(s) under key {new.current}", file=out)
    for user in rotation.skipped:
        print(f"skipped {user!r}: its stored row cannot be re-sealed", file=out)
    return EXIT_FAILED if rotation.skipped else EXIT_OK


def _keys_missing(store: Store, keyring: KeyRing, current: str) -> set[str]:
    """The key ids stale secrets are sealed under that *keyring* does not hold.

    A row too damaged to name its key is left to ``rotate_keys``, which skips and reports it.
    """
    missing: set[str] = set()
    for user_id in store.stale_keys(current):
        try:
            record = store.load(user_id)
            key_id = None if record is None else keyring.key_id_of(record.sealed_secret)
        except RecordError:
            continue
        if key_id is not None and key_id not in keyring.key_ids:
            missing.add(key_id)
    return missing


def _replace_key_file(path: str, keyring: KeyRing) -> None:
    """Replace the key file atomically, keeping mode 0600 (old keys stay inside)."""
    temporary = f"{path}.new"
    keyring.save(temporary)  # created new, mode 0600
    Path(temporary).replace(path)


def _open_database(url: str, *, must_exist: bool) -> Store:
    """Open the store *url* names; with *must_exist*, never create a SQLite file.

    Raises:
        CliError: ``sqlite://PATH`` (two slashes; the message suggests three), or, with
            *must_exist*, a SQLite file that does not exist (exit 3).
    """
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest and not rest.startswith("/"):
        raise CliError(f"a SQLite URL has three slashes: sqlite:///{rest} (or sqlite:////{rest} if absolute)")
    if scheme == "sqlite" and must_exist and not Path(rest[1:]).is_file():
        raise CliError(
            f"no SQLite database file at {rest[1:]!r} (admin opens a database, it never creates one)",
            EXIT_STORE,
        )
    return open_store(url)


def _demo(args: argparse.Namespace, out: TextIO, _: TextIO) -> int:
    from totpcore import _demo as demo  # noqa: PLC0415  # pulls in the service and a store

    store = _open_database(args.db, must_exist=False)
    try:
        store.create_schema()
        demo.run(store=store, key_file=args.key_file, out=out)
    finally:
        store.close()
    if args.db.startswith("memory:"):
        print("\nDone. The state was in memory and is gone.", file=out)
        return EXIT_OK
    inspect = shlex.join(["admin", "--db", args.db, "--key-file", args.key_file, "status", demo.USER])
    print(f"\nDone. Inspect the state with:\n  {args.program} {inspect}", file=out)
    return EXIT_OK


def _program() -> str:
    """The command that runs this program again, as typed into a shell here."""
    script = sys.argv[0]
    if Path(script).name == "__main__.py":  # python -m totpcore
        return f"{shlex.quote(sys.executable)} -m totpcore"
    found = shutil.which("totpcore")
    if found is not None and Path(found).resolve() == Path(script).resolve():
        return "totpcore"
    return shlex.quote(script)  # e.g. .venv/bin/totpcore, not on PATH


# -- parser -------------------------------------------------------------------------

# argparse repeats the offending value in these messages; it may be a secret typed by
# mistake, so it is cut out (the choices, which come from this program, stay).
_CHOICE = re.compile(r"(invalid choice): .*?( \(choose from [^()]*\))?\Z", re.DOTALL)
_VALUE = re.compile(r"(invalid [\w ]+ value|ignored explicit argument):? .*\Z", re.DOTALL)
_AMBIGUOUS = re.compile(r"(ambiguous option): .* (could match .*)\Z", re.DOTALL)
_OPTION_NAME = re.compile(r"--[a-z][a-z0-9-]*")


def _without_values(message: str) -> str:
    """*message* from argparse without any value from the command line."""
    message = _CHOICE.sub(r"\1\2", message)
    message = _VALUE.sub(r"\1", message)
    return _AMBIGUOUS.sub(r"\1: \2", message)


def _unrecognized(extras: list[str]) -> str:
    """Name the unknown options, and only count the other arguments (never repeat them)."""
    names = [
        name for name, _, _ in (extra.partition("=") for extra in extras) if _OPTION_NAME.fullmatch(name)
    ]
    hidden = len(extras) - len(names)
    if hidden:
        names.append(f"{hidden} not shown (an argument could be a secret)")
    return f"unrecognized arguments: {', '.join(names)}"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2) that repeats no value."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {_without_values(message)} (see --help)\n")


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
    parser.add_argument(
        "--algorithm",
        default="SHA1",
        type=str.upper,
        choices=[a.name for a in Algorithm],
        help="HMAC hash, in any case (default SHA1)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="totpcore",
        description="RFC 4226 HOTP and RFC 6238 TOTP two-factor authentication.",
        epilog="Exit codes: 0 success, 1 check failed or refused, 2 bad usage or input, 3 database error, "
        "141 output closed early. Secrets are never taken as arguments: process lists show arguments to "
        "every user.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="a narrated walkthrough of the whole MFA flow")
    demo.add_argument(
        "--db",
        default="sqlite:///totpcore-demo.sqlite3",
        metavar="URL",
        help="the store, created with its schema (default: sqlite:///totpcore-demo.sqlite3)",
    )
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
    moment = code.add_mutually_exclusive_group()
    moment.add_argument("--at", metavar="TIME", help="Unix seconds or ISO 8601 with a zone (default: now)")
    moment.add_argument("--counter", type=int, metavar="N", help="print the HOTP code at counter N instead")
    code.set_defaults(run=_code)

    uri = commands.add_parser("uri", help="build an otpauth:// URI (and QR code) for a secret")
    uri.add_argument("--account", required=True, help="the account name the app shows")
    uri.add_argument("--issuer", required=True, help="the service name the app shows")
    _secret_sources(uri, uri=False)
    uri.add_argument("--generate", action="store_true", help="generate a new 160-bit secret")
    _otp_options(uri)
    output = uri.add_mutually_exclusive_group()
    output.add_argument("--output", metavar="PATH", help="write the URI to a new file, mode 0600")
    output.add_argument("--qr", metavar="KIND", help="terminal, svg:PATH or png:PATH (needs the qr extra)")
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
    parser = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.error(_unrecognized(extras))
    args.program = _program() if argv is None else "totpcore"
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        code = run(args, out, err)
        out.flush()  # a closed pipe shows here, not in the flush at exit
    except BrokenPipeError:
        # The reader went away: print nothing more, and keep the flush at exit quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
        return EXIT_PIPE
    except CliError as error:
        return _fail(err, str(error), error.code)
    except StoreError as error:
        return _fail(err, str(error), EXIT_STORE)
    except (TotpcoreError, ImportError, OSError) as error:
        # The library names its own keyword; on the command line it is an option.
        message = (str(error) or type(error).__name__).replace("allow_short=True", "--allow-short")
        return _fail(err, message, EXIT_USAGE)
    return code


def _fail(err: TextIO, message: str, code: int) -> int:
    print(f"totpcore: {message}", file=err)
    return code
