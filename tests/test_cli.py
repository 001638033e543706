"""The command line: every command through the real console script, and in process."""

from __future__ import annotations

import io
import json
import os
import re
import runpy
import shlex
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from totpcore import MfaService, Policy, Secret
from totpcore.cli import EXIT_FAILED, EXIT_OK, EXIT_PIPE, EXIT_STORE, EXIT_USAGE, _program, main
from totpcore.recovery import Argon2Params
from totpcore.sealing import KeyRing
from totpcore.store import SQLiteStore, Status
from totpcore.totp import TOTP

SCRIPT = Path(sys.executable).parent / "totpcore"
RFC_SHA1 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 6238's 20-byte seed, base32
RFC_SHA256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"  # its 32-byte seed


def run(
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    program: tuple[str, ...] = (str(SCRIPT),),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (or *program*)."""
    return subprocess.run(
        [*program, *args], input=stdin, capture_output=True, text=True, check=False, cwd=cwd, env=env
    )


def call(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run main() in process (for coverage) with captured streams and stdin."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        code = main(list(args), out=out, err=err)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def one_line_error(stderr: str) -> None:
    """Bad input gives one line on stderr, starting with the program (and command) name once."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert re.match(r"totpcore(?: [a-z-]+)*: ", lines[0]), stderr
    assert "totpcore: totpcore" not in stderr


def inspect_command(demo_output: str) -> list[str]:
    """The command the demo prints last, to inspect what it left, split as a shell would."""
    assert "Done. Inspect the state with:" in demo_output
    return shlex.split(demo_output.strip().splitlines()[-1])


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A file holding RFC 6238's SHA1 seed in base32."""
    path = tmp_path / "secret.txt"
    path.write_text(RFC_SHA1 + "\n")
    return path


class TestConsoleScript:
    """Each command once through the installed `totpcore` script."""

    def test_help(self) -> None:
        """--help lists the commands and the exit codes."""
        out = run("--help")
        assert out.returncode == EXIT_OK
        for word in ("demo", "selftest", "code", "uri", "admin", "Exit codes"):
            assert word in out.stdout

    def test_selftest(self) -> None:
        """The selftest passes on the installed copy."""
        out = run("selftest")
        assert out.returncode == EXIT_OK
        assert "all match" in out.stdout

    def test_code(self, secret_file: Path) -> None:
        """The code command reproduces RFC 6238's first SHA1 row from a secret file."""
        out = run("code", "--secret-file", str(secret_file), "--digits", "8", "--at", "59")
        assert (out.returncode, out.stdout) == (EXIT_OK, "94287082\n")

    def test_uri(self) -> None:
        """The uri command with --generate prints a fresh otpauth URI."""
        out = run("uri", "--account", "alice@example.org", "--issuer", "Outsmart EMR", "--generate")
        assert out.returncode == EXIT_OK
        assert out.stdout.startswith("otpauth://totp/Outsmart%20EMR:alice%40example.org?secret=")

    def test_demo(self, tmp_path: Path) -> None:
        """The demo runs unattended, creates its key file 0600, and tells the whole story."""
        out = run("demo", "--db", "sqlite:///demo.sqlite3", "--key-file", "demo.key", cwd=tmp_path)
        assert out.returncode == EXIT_OK, out.stderr
        assert stat.S_IMODE((tmp_path / "demo.key").stat().st_mode) == 0o600
        for phrase in (
            "ACCEPTED",
            "REPLAYED",
            "4 recovery codes left",
            "THROTTLED",
            "LOCKED",
            "status: NONE",
        ):
            assert phrase in out.stdout
        assert "otpauth://" not in out.stdout
        again = run("demo", "--db", "sqlite:///demo.sqlite3", "--key-file", "demo.key", cwd=tmp_path)
        assert again.returncode == EXIT_OK
        assert "Using the key ring" in again.stdout

    def test_the_demo_hint_runs_as_printed(self, tmp_path: Path) -> None:
        """The command the demo prints at the end works as printed, from a script not on PATH."""
        elsewhere = os.pathsep.join(
            entry for entry in os.environ.get("PATH", "").split(os.pathsep) if Path(entry) != SCRIPT.parent
        )
        out = run("demo", cwd=tmp_path, env={**os.environ, "PATH": elsewhere})
        command = inspect_command(out.stdout)
        assert command[:2] == [str(SCRIPT), "admin"]
        assert command[2:4] == ["--db", "sqlite:///totpcore-demo.sqlite3"]
        again = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert (again.returncode, again.stdout) == (EXIT_OK, "ENABLED\n")

    def test_the_demo_hint_under_python_m(self, tmp_path: Path) -> None:
        """Run as `python -m totpcore`, the demo prints a `python -m totpcore` command that works."""
        out = run("demo", "--key-file", "my keys", cwd=tmp_path, program=(sys.executable, "-m", "totpcore"))
        command = inspect_command(out.stdout)
        assert command[:4] == [sys.executable, "-m", "totpcore", "admin"]
        assert "'my keys'" in out.stdout.splitlines()[-1]
        again = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert (again.returncode, again.stdout) == (EXIT_OK, "ENABLED\n")

    def test_closed_pipe_exits_quietly(self, tmp_path: Path) -> None:
        """`totpcore selftest | true`: no traceback, no message, the SIGPIPE status 141 (not 2)."""
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written
        try:
            done = subprocess.run(
                [str(SCRIPT), "selftest"],
                stdout=write_end,
                stderr=subprocess.PIPE,
                check=False,
                cwd=tmp_path,
                env={**os.environ, "PYTHONUNBUFFERED": ""},
            )
        finally:
            os.close(write_end)
        assert (done.returncode, done.stderr) == (EXIT_PIPE, b"")

    def test_admin(self, tmp_path: Path) -> None:
        """The admin status command reads a database the demo wrote."""
        run("demo", "--db", "sqlite:///demo.sqlite3", "--key-file", "demo.key", cwd=tmp_path)
        out = run(
            "admin",
            "--db",
            "sqlite:///demo.sqlite3",
            "--key-file",
            "demo.key",
            "status",
            "demo-alice",
            cwd=tmp_path,
        )
        assert (out.returncode, out.stdout) == (EXIT_OK, "ENABLED\n")

    def test_demo_in_process(self, tmp_path: Path) -> None:
        """The same walkthrough through main(), with the audit trail summarised at the end."""
        code, out, _ = call(
            "demo", "--db", f"sqlite:///{tmp_path / 'd.sqlite3'}", "--key-file", str(tmp_path / "d.key")
        )
        assert code == EXIT_OK
        assert "resync with two consecutive codes: ACCEPTED" in out
        assert "attempt 10: LOCKED" in out
        assert "login with the new phone: ACCEPTED" in out
        code, again, _ = call(
            "demo", "--db", f"sqlite:///{tmp_path / 'd.sqlite3'}", "--key-file", str(tmp_path / "d.key")
        )
        assert code == EXIT_OK
        assert "Using the key ring" in again
        assert again.count("ACCEPTED") == out.count("ACCEPTED")  # the demo user was reset first

    def test_demo_without_the_qr_extra(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without segno the demo says how to get the QR code, and carries on."""

        def missing(_: str) -> str:
            raise ImportError("segno")

        monkeypatch.setattr("totpcore.qr.terminal", missing)
        code, out, _ = call("demo", "--db", "memory://", "--key-file", str(tmp_path / "d.key"))
        assert code == EXIT_OK
        assert "pip install 'totpcore[qr]'" in out

    def test_demo_in_memory_has_nothing_to_inspect(self, tmp_path: Path) -> None:
        """On memory:// the demo runs and says the state is gone, instead of a command that cannot work."""
        code, out, _ = call("demo", "--db", "memory://", "--key-file", str(tmp_path / "d.key"))
        assert code == EXIT_OK
        assert out.endswith("Done. The state was in memory and is gone.\n")
        assert "admin" not in out

    @pytest.mark.parametrize("command", ["demo", "admin"])
    def test_two_slashes_suggest_three(self, tmp_path: Path, command: str) -> None:
        """`--db sqlite://demo.sqlite3` means one thing for demo and admin, and the message shows the fix."""
        key = tmp_path / "k.json"
        KeyRing.generate().save(key)
        args = ["admin", "--db", "sqlite://demo.sqlite3", "--key-file", str(key), "status", "alice"]
        if command == "demo":
            args = ["demo", "--db", "sqlite://demo.sqlite3", "--key-file", str(key)]
        code, _, err = call(*args)
        assert code == EXIT_USAGE
        one_line_error(err)
        assert "sqlite:///demo.sqlite3" in err
        assert not Path("demo.sqlite3").exists()

    def test_demo_on_a_store_that_fails(self, tmp_path: Path) -> None:
        """A SQLite file that cannot be created: one line, exit 3."""
        code, _, err = call(
            "demo", "--db", f"sqlite:///{tmp_path / 'no' / 'd.sqlite3'}", "--key-file", str(tmp_path / "k")
        )
        assert code == EXIT_STORE
        one_line_error(err)

    @pytest.mark.parametrize(
        "args",
        [("frobnicate",), ("uri", "--issuer", "I"), ("admin", "status", "alice"), ("code", "--digits", "9")],
    )
    def test_usage_errors(self, args: tuple[str, ...]) -> None:
        """Unknown commands, missing or bad arguments: one line on stderr, exit 2."""
        out = run(*args)
        assert out.returncode == EXIT_USAGE
        one_line_error(out.stderr)
        assert "--help" in out.stderr

    def test_usage_error_names_the_command_once(self) -> None:
        """`totpcore uri: ...`, not `totpcore: totpcore uri: ...`."""
        out = run("uri", "--issuer", "I")
        assert out.stderr == "totpcore uri: the following arguments are required: --account (see --help)\n"

    def test_closed_pipe_in_process(self) -> None:
        """The flush at the end meets the closed pipe: exit 141, stdout pointed at /dev/null, nothing said."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        err = io.StringIO()
        with os.fdopen(write_end, "w") as out:
            assert main(["selftest"], out=out, err=err) == EXIT_PIPE
            out.write("more output, now discarded\n")
        assert err.getvalue() == ""

    def test_module_entry_point(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`python -m totpcore` exits with main()'s code."""
        monkeypatch.setattr(sys, "argv", ["totpcore", "selftest"])
        with pytest.raises(SystemExit) as caught:
            runpy.run_module("totpcore", run_name="__main__")
        assert caught.value.code == EXIT_OK


ECHO_CASES = [
    (("code", RFC_SHA1), "totpcore: unrecognized arguments: 1 not shown (an argument could be a secret)"),
    (
        ("code", "--secret", RFC_SHA1),
        "totpcore code: ambiguous option: could match --secret-file, --secret-env",
    ),
    (("code", "--token", RFC_SHA1), "totpcore: unrecognized arguments: --token, 1 not shown"),
    (("code", f"--token={RFC_SHA1}"), "totpcore: unrecognized arguments: --token (see --help)"),
    (("code", f"--{RFC_SHA1}"), "totpcore: unrecognized arguments: 1 not shown"),
    ((RFC_SHA1,), "totpcore: argument COMMAND: invalid choice (choose from "),
    (("code", "--digits", RFC_SHA1), "totpcore code: argument --digits: invalid int value (see --help)"),
    (("code", "--algorithm", RFC_SHA1), "totpcore code: argument --algorithm: invalid choice (choose from "),
    (("code", "--counter", RFC_SHA1), "totpcore code: argument --counter: invalid int value"),
    (
        ("uri", "--account", "a", "--issuer", "I", f"--generate={RFC_SHA1}"),
        "totpcore uri: argument --generate: ignored explicit argument (see --help)",
    ),
    (("admin", "--key-file", "k", RFC_SHA1), "totpcore admin: argument ACTION: invalid choice (choose from "),
]


class TestArgumentsAreNeverEchoed:
    """A secret typed on the command line by mistake is never repeated by the parser."""

    @pytest.mark.parametrize(("args", "message"), ECHO_CASES)
    def test_not_repeated(
        self, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Unknown arguments, bad values and bad choices are named in one line, their values are not."""
        with pytest.raises(SystemExit) as caught:
            call(*args)
        assert caught.value.code == EXIT_USAGE
        err = capsys.readouterr().err
        one_line_error(err)
        assert err.startswith(message)
        assert RFC_SHA1[:8] not in err

    def test_through_the_console_script(self) -> None:
        """The same through the installed script: a secret as a stray argument is not repeated."""
        out = run("code", "--secret", RFC_SHA1)
        assert out.returncode == EXIT_USAGE
        one_line_error(out.stderr)
        assert RFC_SHA1[:8] not in out.stderr


class TestProgramName:
    """How the demo's closing hint names this program, so that it works when pasted."""

    def test_on_path(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """The console script found first on PATH is just `totpcore`."""
        script = tmp_path / "bin" / "totpcore"
        monkeypatch.setattr(sys, "argv", [str(script), "demo"])
        monkeypatch.setattr("shutil.which", lambda name: str(script) if name == "totpcore" else None)
        assert _program() == "totpcore"

    def test_python_m(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Under `python -m totpcore`, the same interpreter with -m, quoted for the shell."""
        monkeypatch.setattr(sys, "argv", ["/x/site-packages/totpcore/__main__.py", "demo"])
        monkeypatch.setattr(sys, "executable", "/opt/my python/bin/python3")
        assert _program() == "'/opt/my python/bin/python3' -m totpcore"

    def test_another_copy_on_path(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """When PATH finds another totpcore, the hint names this one by its path."""
        monkeypatch.setattr(sys, "argv", [".venv/bin/totpcore", "demo"])
        monkeypatch.setattr("shutil.which", lambda _: str(tmp_path / "elsewhere" / "totpcore"))
        assert _program() == ".venv/bin/totpcore"


class TestCode:
    """`totpcore code`: like oathtool, secrets never on the command line."""

    def test_rfc_vectors(self, secret_file: Path) -> None:
        """TOTP (RFC 6238) and HOTP (RFC 4226) values from a secret file."""
        assert (
            call("code", "--secret-file", str(secret_file), "--digits", "8", "--at", "1111111109")[1]
            == "07081804\n"
        )
        assert call("code", "--secret-file", str(secret_file), "--counter", "1")[1] == "287082\n"

    def test_iso_time(self, secret_file: Path) -> None:
        """--at takes ISO 8601 with a zone."""
        assert (
            call("code", "--secret-file", str(secret_file), "--digits", "8", "--at", "1970-01-01T00:00:59Z")[
                1
            ]
            == "94287082\n"
        )

    def test_iso_time_is_exact(self, secret_file: Path) -> None:
        """The last microsecond of a step prints that step's code, not the next one's."""
        expected = TOTP(Secret(b"12345678901234567890")).at(19880899229)  # 2600-01-01T00:00:29Z
        assert expected != TOTP(Secret(b"12345678901234567890")).at(19880899230)
        at = "2600-01-01T00:00:29.999999Z"
        assert call("code", "--secret-file", str(secret_file), "--at", at)[1] == expected + "\n"

    def test_naive_iso_time(self, secret_file: Path) -> None:
        """A time without a zone is refused."""
        code, _, err = call("code", "--secret-file", str(secret_file), "--at", "2026-01-01T00:00:00")
        assert code == EXIT_USAGE
        one_line_error(err)

    def test_bad_time(self, secret_file: Path) -> None:
        """Neither seconds nor ISO 8601."""
        code, _, err = call("code", "--secret-file", str(secret_file), "--at", "yesterday")
        assert code == EXIT_USAGE
        assert "yesterday" in err

    def test_stdin_and_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The secret may come from standard input or an environment variable."""
        assert call("code", "--digits", "8", "--at", "59", stdin=RFC_SHA1)[1] == "94287082\n"
        monkeypatch.setenv("MY_SECRET", RFC_SHA1)
        assert call("code", "--secret-env", "MY_SECRET", "--digits", "8", "--at", "59")[1] == "94287082\n"

    def test_missing_env(self) -> None:
        """An unset variable is named in a one-line error."""
        code, _, err = call("code", "--secret-env", "TOTPCORE_NOT_SET_ANYWHERE")
        assert code == EXIT_USAGE
        one_line_error(err)
        assert "TOTPCORE_NOT_SET_ANYWHERE" in err

    def test_uri_file(self, tmp_path: Path) -> None:
        """A URI file carries its own parameters: digits, period, algorithm, HOTP counter."""
        totp_uri = tmp_path / "totp.uri"
        totp_uri.write_text(f"otpauth://totp/ACME:alice?secret={RFC_SHA1}&digits=8&issuer=ACME")
        assert call("code", "--uri-file", str(totp_uri), "--at", "59")[1] == "94287082\n"
        hotp_uri = tmp_path / "hotp.uri"
        hotp_uri.write_text(f"otpauth://hotp/ACME:alice?secret={RFC_SHA1}&counter=7")
        assert call("code", "--uri-file", str(hotp_uri))[1] == "162583\n"
        assert call("code", "--uri-file", str(hotp_uri), "--counter", "9")[1] == "520489\n"
        hotp_uri.write_text(f"otpauth://hotp/alice?secret={RFC_SHA1}")  # no counter: 0
        assert call("code", "--uri-file", str(hotp_uri))[1] == "755224\n"

    def test_each_file_holds_what_its_option_names(self, tmp_path: Path, secret_file: Path) -> None:
        """--uri-file refuses a bare secret and --secret-file a URI, without repeating either."""
        code, _, err = call("code", "--uri-file", str(secret_file))
        assert code == EXIT_USAGE
        one_line_error(err)
        assert "holds no otpauth:// URI" in err
        uri_file = tmp_path / "alice.uri"
        uri_file.write_text(f"OTPAUTH://totp/ACME:alice?secret={RFC_SHA1}")
        code, _, err = call("code", "--secret-file", str(uri_file))
        assert code == EXIT_USAGE
        one_line_error(err)
        assert "holds an otpauth:// URI, not a base32 secret" in err
        assert RFC_SHA1[:8] not in err
        code, _, err = call("uri", "--account", "a", "--issuer", "I", "--secret-file", str(uri_file))
        assert code == EXIT_USAGE
        assert "holds an otpauth:// URI" in err

    def test_uri_from_standard_input(self) -> None:
        """Standard input and the environment may hold either; a URI is recognised by its scheme."""
        assert (
            call("code", "--at", "59", stdin=f"otpauth://totp/a?secret={RFC_SHA1}&digits=8")[1]
            == "94287082\n"
        )

    @pytest.mark.parametrize("spelling", ["sha256", "Sha256", "SHA256"])
    def test_algorithm_in_any_case(self, tmp_path: Path, spelling: str) -> None:
        """--algorithm sha256 is SHA256: RFC 6238 Appendix B's SHA256 row at 59 s."""
        path = tmp_path / "seed32"
        path.write_text(RFC_SHA256)
        out = call("code", "--secret-file", str(path), "--algorithm", spelling, "--digits", "8", "--at", "59")
        assert out == (EXIT_OK, "46119246\n", "")

    def test_at_and_counter_exclude_each_other(
        self, secret_file: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--at is for TOTP and --counter for HOTP: the pair is refused, not silently resolved."""
        with pytest.raises(SystemExit) as caught:
            call("code", "--secret-file", str(secret_file), "--at", "59", "--counter", "1")
        assert caught.value.code == EXIT_USAGE
        assert capsys.readouterr().err == (
            "totpcore code: argument --counter: not allowed with argument --at (see --help)\n"
        )

    def test_short_secret_names_the_option(self, tmp_path: Path) -> None:
        """The legacy-secret error tells a CLI user about --allow-short, not a Python keyword."""
        path = tmp_path / "short"
        path.write_text("JBSWY3DPEHPK3PXP")
        code, _, err = call("code", "--secret-file", str(path))
        assert code == EXIT_USAGE
        assert err == (
            "totpcore: secret is 10 bytes; at least 16 bytes are required "
            "(pass --allow-short only to import a legacy enrollment)\n"
        )

    def test_now(self, secret_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --at, the code for this machine's clock."""
        monkeypatch.setattr("totpcore.totp.time.time", lambda: 59.5)
        assert call("code", "--secret-file", str(secret_file), "--digits", "8") == (EXIT_OK, "94287082\n", "")

    @pytest.mark.parametrize(
        "content",
        [
            "not base32 at all!",
            "otpauth://totp/x?secret=!!",
            "otpauth://sms/x?secret=" + RFC_SHA1,
            "JBSWY3DPEHPK3PXP",
        ],
    )
    def test_bad_input(self, tmp_path: Path, content: str) -> None:
        """Bad secrets and URIs: one line, exit 2, the secret not repeated."""
        path = tmp_path / "input"
        path.write_text(content)
        option = "--uri-file" if content.startswith("otpauth") else "--secret-file"
        code, _, err = call("code", option, str(path))
        assert code == EXIT_USAGE
        one_line_error(err)
        assert "JBSWY3DPEHPK3PXP" not in err

    def test_legacy_short_secret(self, tmp_path: Path) -> None:
        """An 80-bit legacy secret needs --allow-short, for code and for uri."""
        path = tmp_path / "short"
        path.write_text("JBSWY3DPEHPK3PXP")
        assert call("code", "--secret-file", str(path), "--at", "0")[0] == EXIT_USAGE
        assert call("code", "--secret-file", str(path), "--at", "0", "--allow-short")[0] == EXIT_OK
        uri = ("uri", "--account", "a", "--issuer", "I", "--secret-file", str(path))
        assert call(*uri)[0] == EXIT_USAGE
        assert "secret=JBSWY3DPEHPK3PXP" in call(*uri, "--allow-short")[1]

    def test_counter_needs_an_hotp(self, tmp_path: Path) -> None:
        """--counter with a TOTP URI is an error, not silently ignored."""
        path = tmp_path / "totp.uri"
        path.write_text(f"otpauth://totp/ACME:alice?secret={RFC_SHA1}")
        code, _, err = call("code", "--uri-file", str(path), "--counter", "3")
        assert code == EXIT_USAGE
        assert "HOTP" in err

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A missing file is named."""
        code, _, err = call("code", "--secret-file", str(tmp_path / "absent"))
        assert code == EXIT_USAGE
        one_line_error(err)

    def test_no_secret_on_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no source and an interactive stdin, say where a secret can come from."""

        class Tty(io.StringIO):
            def isatty(self) -> bool:
                return True

        monkeypatch.setattr(sys, "stdin", Tty())
        err = io.StringIO()
        assert main(["code"], out=io.StringIO(), err=err) == EXIT_USAGE
        assert "--secret-file" in err.getvalue()

    def test_secret_is_not_an_argument(self) -> None:
        """There is no option that takes the secret itself."""
        with pytest.raises(SystemExit):
            main(["code", "--secret", RFC_SHA1], out=io.StringIO(), err=io.StringIO())


class TestUri:
    """`totpcore uri` and its QR output."""

    def test_from_a_secret_file(self, secret_file: Path) -> None:
        """The URI carries the file's secret and the non-default parameters."""
        code, out, _ = call(
            "uri", "--account", "a", "--issuer", "I", "--secret-file", str(secret_file), "--digits", "8"
        )
        assert code == EXIT_OK
        assert out.strip() == f"otpauth://totp/I:a?secret={RFC_SHA1}&issuer=I&digits=8"

    def test_terminal_qr(self) -> None:
        """--qr terminal draws blocks."""
        code, out, _ = call("uri", "--account", "a", "--issuer", "I", "--generate", "--qr", "terminal")
        assert code == EXIT_OK
        assert "█" in out
        assert "otpauth" not in out

    @pytest.mark.parametrize(("kind", "magic"), [("svg", b"<svg"), ("png", b"\x89PNG")])
    def test_qr_files(self, tmp_path: Path, kind: str, magic: bytes) -> None:
        """--qr svg:PATH / png:PATH write a new file readable by its owner only."""
        path = tmp_path / f"qr.{kind}"
        assert (
            call("uri", "--account", "a", "--issuer", "I", "--generate", "--qr", f"{kind}:{path}")[0]
            == EXIT_OK
        )
        assert magic in path.read_bytes()[:200]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        code, _, err = call("uri", "--account", "a", "--issuer", "I", "--generate", "--qr", f"{kind}:{path}")
        assert code == EXIT_USAGE
        one_line_error(err)

    @pytest.mark.parametrize(
        "args",
        [
            ("--qr", "bogus"),
            ("--qr", "svg"),
            ("--account", "a:b"),
        ],
    )
    def test_bad_arguments(self, args: tuple[str, ...]) -> None:
        """Bad QR kinds and accounts with a colon are one-line errors."""
        base = ["uri", "--account", "a", "--issuer", "I", "--generate"]
        code, _, err = call(*base, *args)
        assert code == EXIT_USAGE
        one_line_error(err)

    def test_output_file(self, tmp_path: Path, secret_file: Path) -> None:
        """--output writes the URI to a new file readable by its owner only, and never overwrites."""
        path = tmp_path / "alice.uri"
        args = (
            "uri",
            "--account",
            "a",
            "--issuer",
            "I",
            "--secret-file",
            str(secret_file),
            "--output",
            str(path),
        )
        assert call(*args) == (EXIT_OK, "", "")
        assert path.read_text() == f"otpauth://totp/I:a?secret={RFC_SHA1}&issuer=I\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        code, _, err = call(*args)
        assert code == EXIT_USAGE
        one_line_error(err)
        assert "File exists" in err

    def test_output_and_qr_exclude_each_other(self, tmp_path: Path) -> None:
        """One output per run: the URI to a file, or a QR code."""
        with pytest.raises(SystemExit) as caught:
            call(
                "uri",
                "--account",
                "a",
                "--issuer",
                "I",
                "--generate",
                "--output",
                str(tmp_path / "u"),
                "--qr",
                "terminal",
            )
        assert caught.value.code == EXIT_USAGE
        assert not (tmp_path / "u").exists()

    def test_generate_excludes_a_source(self, secret_file: Path) -> None:
        """--generate and --secret-file together are ambiguous."""
        code, _, err = call(
            "uri", "--account", "a", "--issuer", "I", "--generate", "--secret-file", str(secret_file)
        )
        assert code == EXIT_USAGE
        one_line_error(err)


class TestAdmin:
    """`totpcore admin`: status, reset and key rotation on a real database."""

    @pytest.fixture
    def database(self, tmp_path: Path) -> tuple[str, Path, TOTP]:
        """A SQLite database with alice enrolled, its URL, the key file and alice's phone."""
        key_file = tmp_path / "keys.json"
        ring = KeyRing.generate("k1")
        ring.save(key_file)
        store = SQLiteStore(str(tmp_path / "mfa.sqlite3"))
        store.create_schema()
        service = MfaService(
            store, issuer="x", keyring=ring, policy=Policy(recovery_kdf=Argon2Params(8, 1, 1)), audit=print
        )
        enrollment = service.begin_enrollment("alice", account="alice")
        phone = TOTP(Secret.from_base32(enrollment.secret_base32))
        service.confirm_enrollment("alice", phone.now())
        store.close()
        return f"sqlite:///{tmp_path / 'mfa.sqlite3'}", key_file, phone

    def test_rotate_keys_skips_and_names_a_damaged_row(
        self, database: tuple[str, Path, TOTP], tmp_path: Path
    ) -> None:
        """A row that cannot be re-sealed is skipped and named (exit 1); the others are re-sealed."""
        url, key_file, _ = database
        with sqlite3.connect(tmp_path / "mfa.sqlite3") as conn:
            rest = (
                "key_id, digits, period, algorithm, last_step, drift, failures, next_attempt_at,"
                " recovery_params, created_at, updated_at, enabled_at"
            )
            conn.execute(  # bob: alice's row with a sealed secret cut to one byte
                f"INSERT INTO totpcore_users (user_id, status, enrollment_id, sealed_secret, {rest}) "  # noqa: S608
                f"SELECT 'bob', status, enrollment_id, X'00', {rest} "
                "FROM totpcore_users WHERE user_id = 'alice'"
            )
        code, out, _ = call("admin", "--db", url, "--key-file", str(key_file), "rotate-keys", "--new-key")
        assert code == EXIT_FAILED
        assert "re-sealed 1 user(s) under key" in out
        assert "skipped 'bob': its stored row cannot be re-sealed" in out

    def test_status_and_reset(self, database: tuple[str, Path, TOTP]) -> None:
        """The status action prints the state; reset wipes it; the user is then unknown."""
        url, key_file, _ = database
        admin = ("admin", "--db", url, "--key-file", str(key_file))
        assert call(*admin, "status", "alice")[:2] == (EXIT_OK, "ENABLED\n")
        code, out, err = call(*admin, "reset", "alice", "--actor", "support:bob", "--reason", "ticket 1")
        assert code == EXIT_OK
        assert "enrol again" in out
        assert err == 'audit: reset user=alice actor=support:bob reason="ticket 1"\n'
        code, _, err = call(*admin, "status", "alice")
        assert code == EXIT_FAILED
        one_line_error(err)

    def test_database_from_the_environment(
        self, database: tuple[str, Path, TOTP], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without --db the URL comes from TOTPCORE_DB_URL, keeping passwords out of ps."""
        url, key_file, _ = database
        assert call("admin", "--key-file", str(key_file), "status", "alice")[0] == EXIT_USAGE
        monkeypatch.setenv("TOTPCORE_DB_URL", url)
        assert call("admin", "--key-file", str(key_file), "status", "alice")[:2] == (EXIT_OK, "ENABLED\n")

    def test_unknown_user(self, database: tuple[str, Path, TOTP]) -> None:
        """Resetting nobody is refused, exit 1."""
        url, key_file, _ = database
        code, _, err = call(
            "admin", "--db", url, "--key-file", str(key_file), "reset", "bob", "--actor", "a", "--reason", "r"
        )
        assert code == EXIT_FAILED
        assert "'bob'" in err

    def test_rotate_keys(self, database: tuple[str, Path, TOTP], tmp_path: Path) -> None:
        """rotate-keys --new-key adds a current key (file stays 0600) and re-seals; logins still work."""
        url, key_file, phone = database
        assert call("admin", "--db", url, "--key-file", str(key_file), "rotate-keys")[1] == (
            "re-sealed 0 user(s) under key k1\n"
        )
        code, out, err = call("admin", "--db", url, "--key-file", str(key_file), "rotate-keys", "--new-key")
        assert code == EXIT_OK
        assert "re-sealed 1 user" in out
        assert err.startswith("audit: key_rotated user=alice")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        ring = KeyRing.from_file(key_file)
        assert len(json.loads(key_file.read_text())["keys"]) == 2
        store = SQLiteStore(str(tmp_path / "mfa.sqlite3"))
        record = store.load("alice")
        assert record is not None
        assert record.key_id == ring.current
        service = MfaService(store, issuer="x", keyring=ring, clock=lambda: 4_000_000_000.0, audit=print)
        assert service.verify("alice", phone.at(4_000_000_000)).ok
        assert service.status("alice") is Status.ENABLED
        store.close()

    @pytest.mark.parametrize(
        ("db", "key"),
        [
            ("mysql://x", "good"),
            ("sqlite:///{tmp}/nowhere/x.db", "good"),
            ("sqlite:///{tmp}/mfa.sqlite3", "missing"),
        ],
    )
    def test_bad_database_or_key_file(
        self, database: tuple[str, Path, TOTP], tmp_path: Path, db: str, key: str
    ) -> None:
        """Bad URLs, unopenable databases and missing key files: one line, non-zero."""
        _, key_file, _ = database
        key_path = key_file if key == "good" else tmp_path / "absent.json"
        code, _, err = call(
            "admin", "--db", db.format(tmp=tmp_path), "--key-file", str(key_path), "status", "alice"
        )
        assert code != EXIT_OK
        one_line_error(err)

    def test_key_file_open_to_others(self, database: tuple[str, Path, TOTP]) -> None:
        """A key file readable by others is refused in one line naming chmod 600; nothing is read."""
        url, key_file, _ = database
        key_file.chmod(0o644)
        code, out, err = call("admin", "--db", url, "--key-file", str(key_file), "status", "alice")
        assert (code, out) == (EXIT_USAGE, "")
        one_line_error(err)
        assert f"chmod 600 {str(key_file)!r}" in err

    @pytest.mark.parametrize(
        "action", [("status", "alice"), ("reset", "alice", "--actor", "a", "--reason", "r"), ("rotate-keys",)]
    )
    def test_a_mistyped_path_creates_no_database(
        self, database: tuple[str, Path, TOTP], tmp_path: Path, action: tuple[str, ...]
    ) -> None:
        """An admin action opens an existing SQLite file only: a typo is exit 3 and creates no database."""
        _, key_file, _ = database
        typo = tmp_path / "mfa.sqlite"
        code, _, err = call("admin", "--db", f"sqlite:///{typo}", "--key-file", str(key_file), *action)
        assert code == EXIT_STORE
        one_line_error(err)
        assert "it never creates one" in err
        assert not typo.exists()

    def test_rotate_with_the_wrong_key_ring_writes_nothing(
        self, database: tuple[str, Path, TOTP], tmp_path: Path
    ) -> None:
        """A key file that cannot open the secrets is refused before the file or the database changes."""
        url, _, _ = database
        wrong = tmp_path / "wrong.json"
        KeyRing.generate("other").save(wrong)
        before = wrong.read_bytes()
        store = SQLiteStore(str(tmp_path / "mfa.sqlite3"))
        sealed = store.load("alice")
        code, out, err = call("admin", "--db", url, "--key-file", str(wrong), "rotate-keys", "--new-key")
        assert (code, out) == (EXIT_USAGE, "")
        one_line_error(err)
        assert "k1" in err  # the missing key is named
        assert wrong.read_bytes() == before
        assert not (tmp_path / "wrong.json.new").exists()
        after = store.load("alice")
        store.close()
        assert sealed is not None
        assert after is not None
        assert (after.key_id, after.sealed_secret) == (sealed.key_id, sealed.sealed_secret)

    def test_reset_needs_actor_and_reason(self, database: tuple[str, Path, TOTP]) -> None:
        """The parser refuses a reset without --actor and --reason."""
        url, key_file, _ = database
        with pytest.raises(SystemExit) as caught:
            main(
                ["admin", "--db", url, "--key-file", str(key_file), "reset", "alice"],
                out=io.StringIO(),
                err=io.StringIO(),
            )
        assert caught.value.code == EXIT_USAGE


class TestAdminUserIds:
    """`totpcore admin` reports a user id the service refuses in one line (issue 14 part 2)."""

    @pytest.mark.parametrize(
        "action", [["status"], ["reset", "--actor", "support:zoe", "--reason", "ticket"]]
    )
    def test_undecodable_user_id(self, tmp_path: Path, action: list[str]) -> None:
        r"""`admin ... status $'\xff'` (argv decoded with surrogateescape): exit 2, one line, no traceback."""
        key_file = tmp_path / "keys.json"
        KeyRing.generate().save(key_file)
        store = SQLiteStore(str(tmp_path / "mfa.sqlite3"))
        store.create_schema()
        store.close()
        admin = ["admin", "--db", f"sqlite:///{tmp_path / 'mfa.sqlite3'}", "--key-file", str(key_file)]
        result = subprocess.run(
            [str(SCRIPT), *admin, action[0], b"\xff", *action[1:]], capture_output=True, check=False
        )
        assert (result.returncode, result.stdout) == (EXIT_USAGE, b"")
        one_line_error(result.stderr.decode("utf-8", "backslashreplace"))
        assert b"user_id" in result.stderr
