"""otpauth:// URIs: the exact output of build_uri, what parse_uri accepts and refuses, round trips."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import DATA, load_records
from totpcore import (
    HOTP,
    TOTP,
    Algorithm,
    ConfigurationError,
    ProvisioningUri,
    Secret,
    SecretError,
    UriError,
    build_uri,
    parse_uri,
)
from totpcore.uri import MAX_URI_LENGTH
from uri_strategies import Provisioning, names, provisionings, same_otp

SECRET = Secret(b"12345678901234567890")  # RFC 4226 Appendix D
B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # the same key in base32, as RFC 6238's README example


def make(label: str = "ACME:alice", query: str = f"secret={B32}&issuer=ACME", kind: str = "totp") -> str:
    """Return ``otpauth://kind/label?query``, written out by hand rather than by build_uri."""
    return f"otpauth://{kind}/{label}?{query}"


PAGE = load_records(DATA / "key-uri-format.txt")


def build_with(field: str, name: object) -> str:
    """Build a TOTP URI with *name* as the account or as the issuer."""
    account, issuer = (name, "ACME") if field == "account" else ("alice", name)
    return build_uri(TOTP(SECRET), account=account, issuer=issuer)  # type: ignore[arg-type]


class TestBuildOutput:
    """build_uri writes exactly the Key Uri Format, nothing more."""

    def test_totp_with_defaults(self) -> None:
        """Label Issuer:account, the issuer parameter repeated, no default parameters."""
        uri = build_uri(TOTP(SECRET), account="alice@example.com", issuer="Example")
        assert uri == f"otpauth://totp/Example:alice%40example.com?secret={B32}&issuer=Example"

    def test_hotp_always_has_its_counter(self) -> None:
        """Counter 0 is written too: the Key Uri Format requires it for hotp."""
        assert (
            build_uri(HOTP(SECRET), account="alice", counter=0)
            == f"otpauth://hotp/alice?secret={B32}&counter=0"
        )

    def test_settings_other_than_the_defaults_are_written(self) -> None:
        """algorithm, digits and period appear when they are not SHA1, 6 and 30."""
        otp = TOTP(SECRET, digits=8, period=60, algorithm=Algorithm.SHA512)
        assert build_uri(otp, account="bob", issuer="ACME Co") == (
            f"otpauth://totp/ACME%20Co:bob?secret={B32}&issuer=ACME%20Co&algorithm=SHA512&digits=8&period=60"
        )

    def test_hotp_settings(self) -> None:
        """An HOTP writes algorithm and digits, then its counter."""
        otp = HOTP(SECRET, digits=7, algorithm=Algorithm.SHA256)
        assert build_uri(otp, account="bob", counter=2**64 - 1) == (
            f"otpauth://hotp/bob?secret={B32}&algorithm=SHA256&digits=7&counter=18446744073709551615"
        )

    def test_issuer_with_a_colon_goes_in_the_parameter_only(self) -> None:
        """In the label a colon could not be told from the separator, so the label is the account."""
        uri = build_uri(TOTP(SECRET), account="alice", issuer="Star Trek: Website")
        assert uri == f"otpauth://totp/alice?secret={B32}&issuer=Star%20Trek%3A%20Website"

    def test_no_issuer(self) -> None:
        """Without an issuer the label is the account alone and there is no issuer parameter."""
        assert build_uri(TOTP(SECRET), account="alice") == f"otpauth://totp/alice?secret={B32}"

    def test_secret_without_padding(self) -> None:
        """A 16-byte secret is 26 base32 characters; the '=' padding is omitted (Key Uri Format)."""
        uri = build_uri(TOTP(Secret(bytes(16))), account="a")
        assert uri == "otpauth://totp/a?secret=" + "A" * 26
        assert "=" not in uri.partition("secret=")[2]

    def test_image(self) -> None:
        """The image URL is a parameter, percent-encoded like every value."""
        uri = build_uri(TOTP(SECRET), account="a", image="https://logo.example/a b.png?s=1")
        assert uri == f"otpauth://totp/a?secret={B32}&image=https%3A%2F%2Flogo.example%2Fa%20b.png%3Fs%3D1"

    def test_short_legacy_secret_is_written(self) -> None:
        """A secret imported with allow_short is provisioned as it is."""
        short = Secret.from_base32("JBSWY3DPEHPK3PXP", allow_short=True)
        assert build_uri(TOTP(short), account="a") == "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP"


class TestBuildEncoding:
    """Issuer and account are percent-encoded with nothing left raw (URI-1)."""

    @pytest.mark.parametrize(
        ("text", "encoded"),
        [
            ("ACME Co", "ACME%20Co"),
            ("a/b", "a%2Fb"),
            ("a?b", "a%3Fb"),
            ("a#b", "a%23b"),
            ("a&b", "a%26b"),
            ("a=b", "a%3Db"),
            ("a+b", "a%2Bb"),
            ("a@b", "a%40b"),
            ("100%", "100%25"),
            ("%3A", "%253A"),
            ("é", "%C3%A9"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("a-b.c_d~e", "a-b.c_d~e"),
        ],
    )
    def test_each_reserved_character(self, text: str, encoded: str) -> None:
        """Space is %20 (never +), every delimiter is escaped, non-ASCII is UTF-8."""
        uri = build_uri(TOTP(SECRET), account=text, issuer=text)
        assert uri == f"otpauth://totp/{encoded}:{encoded}?secret={B32}&issuer={encoded}"

    def test_names_cannot_inject_parameters_or_path(self) -> None:
        """An issuer "A&B/C" and an account "x?secret=AAAA&issuer=Evil" stay names."""
        uri = build_uri(TOTP(SECRET), account="x?secret=AAAA&issuer=Evil#", issuer="A&B/C")
        assert uri.count("?") == 1
        assert uri.count("/") == 3
        assert [field.split("=")[0] for field in uri.partition("?")[2].split("&")] == ["secret", "issuer"]
        parsed = parse_uri(uri)
        assert (parsed.issuer, parsed.account) == ("A&B/C", "x?secret=AAAA&issuer=Evil#")
        assert parsed.otp.secret == SECRET

    @given(names, names)
    def test_output_is_plain_ascii_without_stray_delimiters(self, issuer: str, account: str) -> None:
        """Label and values hold only unreserved characters and %XX escapes (RFC 3986 §2)."""
        uri = build_uri(TOTP(SECRET), account=account.lstrip(" ") or "a", issuer=issuer)
        piece = r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+"
        assert re.fullmatch(rf"otpauth://totp/{piece}:{piece}\?secret=[A-Z2-7]+&issuer={piece}", uri)


class TestBuildRefuses:
    """What the format cannot express is refused, not silently changed."""

    @pytest.mark.parametrize("name", ["Star Trek: Website", ":", "a:"])
    def test_colon_in_the_account(self, name: str) -> None:
        """The account may not contain a colon (Key Uri Format, Label)."""
        with pytest.raises(UriError, match="the account contains a colon"):
            build_with("account", name)

    @pytest.mark.parametrize("field", ["account", "issuer"])
    @pytest.mark.parametrize("name", ["a\nb", "\x00", "a\x7f", "\x85", "\t"])
    def test_control_characters(self, field: str, name: str) -> None:
        """A control character has no place in a name an app displays."""
        with pytest.raises(UriError, match="control character"):
            build_with(field, name)

    @pytest.mark.parametrize("field", ["account", "issuer"])
    def test_lone_surrogate(self, field: str) -> None:
        """A lone surrogate cannot be encoded in UTF-8: UriError, not UnicodeEncodeError."""
        with pytest.raises(UriError, match="surrogate"):
            build_with(field, "a\ud800")

    @pytest.mark.parametrize("field", ["account", "issuer"])
    def test_empty_name(self, field: str) -> None:
        """An empty name is refused; pass issuer=None to leave the issuer out."""
        with pytest.raises(UriError, match=f"the {field} is empty"):
            build_with(field, "")

    @pytest.mark.parametrize("field", ["account", "issuer"])
    def test_name_of_the_wrong_type(self, field: str) -> None:
        """Names are str."""
        with pytest.raises(TypeError, match=field):
            build_with(field, b"bytes")

    def test_leading_space_in_the_account(self) -> None:
        """The format strips spaces before the account, so one would not survive the round trip."""
        with pytest.raises(UriError, match="starts with a space"):
            build_uri(TOTP(SECRET), account=" alice", issuer="ACME")

    def test_counter_for_a_totp(self) -> None:
        """A TOTP URI has no counter (Key Uri Format, Parameters)."""
        with pytest.raises(UriError, match="counter"):
            build_uri(TOTP(SECRET), account="a", counter=0)

    def test_no_counter_for_an_hotp(self) -> None:
        """An HOTP URI needs the counter (Key Uri Format, Parameters)."""
        with pytest.raises(UriError, match="counter"):
            build_uri(HOTP(SECRET), account="a")

    @pytest.mark.parametrize("counter", [-1, 2**64])
    def test_counter_out_of_range(self, counter: int) -> None:
        """The counter is 8 bytes (RFC 4226 §5.2)."""
        with pytest.raises(ConfigurationError, match="counter"):
            build_uri(HOTP(SECRET), account="a", counter=counter)

    @pytest.mark.parametrize("counter", [1.0, "1", True])
    def test_counter_of_the_wrong_type(self, counter: object) -> None:
        """The counter is an int."""
        with pytest.raises(TypeError, match="counter"):
            build_uri(HOTP(SECRET), account="a", counter=counter)  # type: ignore[arg-type]

    def test_totp_with_t0(self) -> None:
        """The format has no t0: the app would compute other codes."""
        with pytest.raises(UriError, match="t0"):
            build_uri(TOTP(SECRET, t0=1), account="a")

    @pytest.mark.parametrize("otp", [SECRET, B32, None])
    def test_not_an_otp(self, otp: object) -> None:
        """Only a TOTP or an HOTP can be provisioned."""
        with pytest.raises(TypeError, match=r"TOTP or totpcore\.HOTP"):
            build_uri(otp, account="a")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "image",
        ["http://logo.example/a.png", "https://", "https:///a.png", "//logo.example/a.png", "https://[::1"],
    )
    def test_image_must_be_https(self, image: str) -> None:
        """Only an absolute https URL with a host (as pyotp requires, and stricter)."""
        with pytest.raises(UriError, match="https"):
            build_uri(TOTP(SECRET), account="a", image=image)

    def test_image_with_a_control_character(self) -> None:
        """A control character in the image URL is refused."""
        with pytest.raises(UriError, match="control character"):
            build_uri(TOTP(SECRET), account="a", image="https://logo.example/\n")

    def test_image_of_the_wrong_type(self) -> None:
        """The image is a str."""
        with pytest.raises(TypeError, match="image"):
            build_uri(TOTP(SECRET), account="a", image=b"https://x")  # type: ignore[arg-type]

    def test_too_long(self) -> None:
        """A URI beyond MAX_URI_LENGTH would not parse, so it is not built."""
        with pytest.raises(UriError, match="at most 4096"):
            build_uri(TOTP(SECRET), account="a" * MAX_URI_LENGTH)


class TestParseAccepts:
    """What real authenticator ecosystems write is read."""

    def test_canonical_totp(self) -> None:
        """Every field of a plain TOTP URI."""
        parsed = parse_uri(make())
        assert isinstance(parsed.otp, TOTP)
        assert (parsed.account, parsed.issuer, parsed.counter, parsed.image) == ("alice", "ACME", None, None)
        assert (parsed.otp.digits, parsed.otp.period, parsed.otp.algorithm, parsed.otp.t0) == (
            6,
            30,
            Algorithm.SHA1,
            0,
        )
        assert bytes(parsed.otp.secret) == b"12345678901234567890"
        assert parsed.unknown_parameters == ()

    def test_codes_match_rfc_6238(self) -> None:
        """The parsed TOTP computes RFC 6238 Appendix B's SHA1 code at 59 s."""
        parsed = parse_uri(make(query=f"secret={B32}&digits=8"))
        assert parsed.otp.digits == 8
        assert isinstance(parsed.otp, TOTP)
        assert parsed.otp.at(59) == "94287082"

    def test_hotp(self) -> None:
        """An HOTP URI gives an HOTP and its counter; RFC 4226 Appendix D's code at 1."""
        parsed = parse_uri(make(kind="hotp", query=f"secret={B32}&counter=1"))
        assert isinstance(parsed.otp, HOTP)
        assert parsed.counter == 1
        assert parsed.otp.at(parsed.counter) == "287082"

    @pytest.mark.parametrize("counter", ["0", "18446744073709551615", "007"])
    def test_counter_range(self, counter: str) -> None:
        """Any decimal from 0 to 2**64 - 1, leading zeros included."""
        assert parse_uri(make(kind="hotp", query=f"secret={B32}&counter={counter}")).counter == int(counter)

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("digits=7", (7, 30, Algorithm.SHA1)),
            ("period=1", (6, 1, Algorithm.SHA1)),
            ("period=120", (6, 120, Algorithm.SHA1)),
            ("algorithm=SHA256", (6, 30, Algorithm.SHA256)),
            ("algorithm=sha512", (6, 30, Algorithm.SHA512)),
            ("algorithm=Sha1", (6, 30, Algorithm.SHA1)),
        ],
    )
    def test_settings(self, query: str, expected: tuple[int, int, Algorithm]) -> None:
        """Any of digits 6 to 8, period 1 to 120, and the algorithm in any case."""
        otp = parse_uri(make(query=f"secret={B32}&{query}")).otp
        assert isinstance(otp, TOTP)
        assert (otp.digits, otp.period, otp.algorithm) == expected

    @pytest.mark.parametrize(
        ("label", "issuer", "account"),
        [
            ("alice", None, "alice"),
            ("ACME:alice", "ACME", "alice"),
            ("ACME%3Aalice", "ACME", "alice"),
            ("ACME%3aalice", "ACME", "alice"),
            ("ACME:%20alice", "ACME", "alice"),
            ("ACME: alice", "ACME", "alice"),
            ("ACME%3A%20%20 %20alice", "ACME", "alice"),
            ("ACME:alice%20", "ACME", "alice "),
            ("ACME:a%20b", "ACME", "a b"),
            ("ACME:a+b", "ACME", "a+b"),
            ("ACME:a/b", "ACME", "a/b"),
            ("ACME:alice@example.com", "ACME", "alice@example.com"),
            ("%C3%9Cml%C3%A4ut:%E6%97%A5", "Ümläut", "日"),
            ("Ümläut:日", "Ümläut", "日"),
            ("%253A:%2520", "%3A", "%20"),
        ],
    )
    def test_labels(self, label: str, issuer: str | None, account: str) -> None:
        """With or without issuer; ':' or %3A; spaces before the account; one decoding only."""
        parsed = parse_uri(make(label=label, query=f"secret={B32}"))
        assert (parsed.issuer, parsed.account) == (issuer, account)

    def test_issuer_only_as_a_parameter(self) -> None:
        """A label without prefix takes the issuer from the parameter."""
        parsed = parse_uri(make(label="alice", query=f"secret={B32}&issuer=ACME%20Co"))
        assert (parsed.issuer, parsed.account) == ("ACME Co", "alice")

    def test_plus_is_a_space_in_parameters(self) -> None:
        """A parameter's '+' is a space (cryptography writes issuer=ACME+Co); the label's is literal."""
        parsed = parse_uri(make(label="ACME%20Co:a+b", query=f"secret={B32}&issuer=ACME+Co"))
        assert (parsed.issuer, parsed.account) == ("ACME Co", "a+b")

    def test_empty_issuer_parameter_is_absent(self) -> None:
        """issuer= with nothing after it says nothing, and conflicts with nothing."""
        assert parse_uri(make(query=f"secret={B32}&issuer=")).issuer == "ACME"
        assert parse_uri(make(label="alice", query=f"secret={B32}&issuer=")).issuer is None

    @pytest.mark.parametrize(
        "secret",
        [
            B32.lower(),
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ".replace(" ", "%20"),
            "GEZD+GNBV+GY3T+QOJQ+GEZD+GNBV+GY3T+QOJQ",
        ],
    )
    def test_secret_spellings(self, secret: str) -> None:
        """Lower case and separators in the secret are accepted."""
        assert bytes(parse_uri(make(query=f"secret={secret}")).otp.secret) == b"12345678901234567890"

    @pytest.mark.parametrize("padding", ["======", "%3D%3D%3D%3D%3D%3D", ""])
    def test_secret_with_or_without_padding(self, padding: str) -> None:
        """A 16-byte key padded with six '=' (raw or %3D, as cryptography writes it) or not."""
        parsed = parse_uri(make(query=f"secret={'A' * 26}{padding}"))
        assert bytes(parsed.otp.secret) == bytes(16)

    def test_parameters_in_any_order(self) -> None:
        """Every order of the parameters gives the same result."""
        fields = [f"secret={B32}", "issuer=ACME", "digits=8", "period=60", "algorithm=SHA256"]
        for order in itertools.permutations(fields):
            otp = parse_uri(make(query="&".join(order))).otp
            assert isinstance(otp, TOTP)
            assert (otp.digits, otp.period, otp.algorithm, otp.secret) == (8, 60, Algorithm.SHA256, SECRET)

    def test_unknown_parameters_are_kept_in_order(self) -> None:
        """Unknown parameters are kept, decoded, and not acted on."""
        query = f"color=%23ff0000&secret={B32}&lock=false&icon=A+B%2F&empty="
        parsed = parse_uri(make(query=query))
        assert parsed.unknown_parameters == (
            ("color", "#ff0000"),
            ("lock", "false"),
            ("icon", "A B/"),
            ("empty", ""),
        )

    def test_image(self) -> None:
        """The image parameter is decoded and kept."""
        parsed = parse_uri(make(query=f"secret={B32}&image=https%3A%2F%2Flogo.example%2Fa.png"))
        assert parsed.image == "https://logo.example/a.png"

    @pytest.mark.parametrize("prefix", ["OTPAUTH://TOTP/", "otpauth://Totp/", "OtpAuth://totp/"])
    def test_scheme_and_type_in_any_case(self, prefix: str) -> None:
        """URI schemes are case-insensitive (RFC 3986 §3.1); the type is read the same way."""
        assert isinstance(parse_uri(f"{prefix}alice?secret={B32}").otp, TOTP)

    @pytest.mark.parametrize("query", [f"secret={B32}&", f"&secret={B32}", f"secret={B32}&&issuer=ACME"])
    def test_empty_fields_are_skipped(self, query: str) -> None:
        """A doubled or trailing '&' holds no parameter."""
        assert parse_uri(make(query=query)).otp.secret == SECRET

    def test_exactly_the_length_limit(self) -> None:
        """A URI of exactly MAX_URI_LENGTH characters is accepted; one more is not."""
        base = make(label="ACME:")
        account = "a" * (MAX_URI_LENGTH - len(base))
        uri = make(label=f"ACME:{account}")
        assert len(uri) == MAX_URI_LENGTH
        assert parse_uri(uri).account == account
        with pytest.raises(UriError, match="at most 4096"):
            parse_uri(make(label=f"ACME:{account}a"))

    def test_canonical_form_must_fit_too(self) -> None:
        """Raw non-ASCII grows nine-fold when escaped: a URI whose canonical form is too long is refused."""
        short = make(label="ACME:" + "日" * 500)
        assert len(short) < MAX_URI_LENGTH
        with pytest.raises(UriError, match="written canonically the URI is 4572 characters; at most 4096"):
            parse_uri(short)
        bare = make(label="ACME:", query=f"secret={B32}")
        without_issuer = make(label="ACME:" + "a" * (MAX_URI_LENGTH - len(bare)), query=f"secret={B32}")
        with pytest.raises(UriError, match="at most 4096"):  # to_uri() adds &issuer=ACME
            parse_uri(without_issuer)


class TestRealProducers:
    """URIs that deployed generators write, read with the issuer parameter as the issuer."""

    def test_hotp_without_counter(self) -> None:
        """`google-authenticator -c` writes no counter: the counter is 0 (RFC 4226 Appendix D's 755224)."""
        parsed = parse_uri(f"otpauth://hotp/alice@host.example?secret={B32}&issuer=host.example")
        assert isinstance(parsed.otp, HOTP)
        assert (parsed.counter, parsed.account, parsed.issuer) == (0, "alice@host.example", "host.example")
        assert parsed.otp.at(0) == "755224"
        assert parsed.to_uri() == (
            f"otpauth://hotp/host.example:alice%40host.example?secret={B32}&issuer=host.example&counter=0"
        )

    @pytest.mark.parametrize(
        ("label", "parameter", "issuer"),
        [
            ("acme:alice", "ACME", "ACME"),
            ("ACME:alice", "acme", "acme"),
            ("%C3%9Cml%C3%A4ut:alice", "%C3%BCML%C3%84UT", "üMLÄUT"),
        ],
    )
    def test_issuer_differing_only_in_case(self, label: str, parameter: str, issuer: str) -> None:
        """Label prefix and issuer parameter that differ only in case: the parameter wins."""
        parsed = parse_uri(make(label=label, query=f"secret={B32}&issuer={parameter}"))
        assert (parsed.issuer, parsed.account) == (issuer, "alice")

    @pytest.mark.parametrize("parameter", ["ACME%20Co", "ACME+Co", "acme%20co"])
    def test_plus_for_a_space_in_the_label(self, parameter: str) -> None:
        """A '+' in the label prefix is a space when the issuer parameter has a space there."""
        parsed = parse_uri(make(label="ACME+Co:john+doe", query=f"secret={B32}&issuer={parameter}"))
        assert (parsed.issuer, parsed.account) == (
            parameter.replace("%20", " ").replace("+", " "),
            "john+doe",
        )

    def test_plus_stays_a_plus_without_a_parameter(self) -> None:
        """With no issuer parameter to say otherwise, the label's '+' is a '+'."""
        parsed = parse_uri(make(label="ACME+Co:alice", query=f"secret={B32}"))
        assert parsed.issuer == "ACME+Co"

    def test_colon_inside_the_issuer_pyotp(self) -> None:
        """The issuer "Text: More Text" escaped into the label by pyotp; the parameter says where it ends."""
        uri = f"otpauth://totp/Text%3A%20More%20Text:alice?secret={B32}&issuer=Text%3A%20More%20Text"
        parsed = parse_uri(uri)
        assert (parsed.issuer, parsed.account) == ("Text: More Text", "alice")
        assert parsed.to_uri() == f"otpauth://totp/alice?secret={B32}&issuer=Text%3A%20More%20Text"

    @pytest.mark.parametrize("label", ["a:b:alice", "a%3Ab%3A%20alice", "A%3AB:alice"])
    def test_colon_inside_the_issuer_raw_or_escaped(self, label: str) -> None:
        """Any mix of ':' and %3A inside the issuer, when the parameter names it."""
        parsed = parse_uri(make(label=label, query=f"secret={B32}&issuer=a%3Ab"))
        assert (parsed.issuer, parsed.account) == ("a:b", "alice")

    def test_colon_in_the_issuer_parameter_alone(self) -> None:
        """A colon in the issuer parameter with a plain label parses, and builds."""
        parsed = parse_uri(make(label="alice", query=f"secret={B32}&issuer=Star%20Trek%3A%20Website"))
        assert (parsed.issuer, parsed.account) == ("Star Trek: Website", "alice")
        assert parsed.to_uri() == f"otpauth://totp/alice?secret={B32}&issuer=Star%20Trek%3A%20Website"

    @pytest.mark.parametrize(
        "image",
        ["http%3A%2F%2Flogo.example%2Fa.png", "logo.png", "", "https%3A%2F%2F", "https%3A%2F%2F%5B%3A%3A1"],
    )
    def test_image_that_is_not_https_is_dropped(self, image: str) -> None:
        """A logo URL an app must not fetch is dropped; the URI itself is kept."""
        parsed = parse_uri(make(query=f"secret={B32}&issuer=ACME&image={image}&digits=8"))
        assert (parsed.image, parsed.account, parsed.issuer, parsed.otp.digits) == (None, "alice", "ACME", 8)
        assert parsed.otp.secret == SECRET

    def test_spaces_before_an_account_without_issuer(self) -> None:
        """Spaces before the account are dropped with or without an issuer prefix, as build_uri needs."""
        assert parse_uri(make(label="%20%20alice", query=f"secret={B32}")).account == "alice"


class TestShortSecrets:
    """Secrets below 128 bits need the explicit legacy opt-in (RFC 4226 §4 R6)."""

    def test_refused_by_default(self) -> None:
        """UriError naming allow_short, chaining the SecretError, without the secret."""
        uri = make(query="secret=JBSWY3DPEHPK3PXP")
        with pytest.raises(UriError, match="allow_short=True") as caught:
            parse_uri(uri)
        assert isinstance(caught.value.__cause__, SecretError)
        assert "JBSWY3DPEHPK3PXP" not in str(caught.value)

    def test_accepted_with_the_opt_in(self) -> None:
        """allow_short=True imports an 80-bit secret."""
        parsed = parse_uri(make(query="secret=JBSWY3DPEHPK3PXP"), allow_short=True)
        assert bytes(parsed.otp.secret) == b"Hello!\xde\xad\xbe\xef"

    def test_legacy_floor_still_applies(self) -> None:
        """Even with the opt-in, fewer than 80 bits is refused."""
        with pytest.raises(UriError, match="at least 10 bytes"):
            parse_uri(make(query="secret=JBSWY3DP"), allow_short=True)


REJECTED = [
    # scheme, shape and type
    ("https://totp/ACME:alice?secret=S", "scheme"),
    ("otpauth", "scheme"),
    ("totp/ACME:alice?secret=S", "scheme"),
    ("otpauth:totp/ACME:alice?secret=S", "otpauth://TYPE/"),
    ("otpauth://steam/ACME:alice?secret=S", "totp or hotp"),
    ("otpauth:///ACME:alice?secret=S", "totp or hotp"),
    ("otpauth://totp", "no label"),
    ("otpauth://totp?secret=S", "no label"),
    ("otpauth://hotp?secret=S/ACME:alice", "no label"),
    ("otpauth://totp/ACME:alice?secret=S#frag", "fragment"),
    # label
    ("otpauth://totp/?secret=S", "no account"),
    ("otpauth://totp/ACME:?secret=S", "no account"),
    ("otpauth://totp/ACME:%20%20?secret=S", "no account"),
    ("otpauth://totp/:alice?secret=S", "issuer prefix of the label is empty"),
    ("otpauth://totp/a:b:c?secret=S", "more than one"),
    (f"otpauth://totp/a:b:c?secret={B32}&issuer=a", "more than one"),
    (f"otpauth://totp/a:b:c?secret={B32}&issuer=b", "more than one"),
    ("otpauth://totp/a%3Ab:c?secret=S", "more than one"),
    ("otpauth://totp/a::b?secret=S", "more than one"),
    # secret
    ("otpauth://totp/ACME:alice", "no secret"),
    ("otpauth://totp/ACME:alice?issuer=ACME", "no secret"),
    ("otpauth://totp/ACME:alice?secret=", "no secret"),
    ("otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", "bad secret.*not a base32"),
    ("otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG", "bad secret.*no base32 encoding"),
    ("otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQ%3DGEZDGNBVGY3TQOJQ", "bad secret.*padding"),
    # issuer
    (f"otpauth://totp/ACME:alice?secret={B32}&issuer=EVIL", "differs"),
    (f"otpauth://totp/ACME:alice?secret={B32}&issuer=ACME%20Co", "differs"),
    (f"otpauth://totp/ACME+Co:alice?secret={B32}&issuer=ACME%2BCo%20", "differs"),
    (f"otpauth://totp/ACME%20Co:alice?secret={B32}&issuer=ACME%2BCo", "differs"),
    # digits, period, counter, algorithm
    *(
        (f"otpauth://totp/ACME:alice?secret={B32}&digits={d}", "digits parameter must be")
        for d in ["5", "9", "10", "six", "", "-6", "%2B6", "%EF%BC%96", "6.0", "0x6"]
    ),
    *(
        (f"otpauth://totp/ACME:alice?secret={B32}&period={p}", "period parameter must be")
        for p in ["0", "121", "-30", "30s", "", "1e2", "0030"]
    ),
    *(
        (f"otpauth://hotp/ACME:alice?secret={B32}&counter={c}", "counter parameter must be")
        for c in ["-1", "18446744073709551616", "1e3", "", "x", "1" * 21]
    ),
    (f"otpauth://totp/ACME:alice?secret={B32}&counter=0", "TOTP URI has no counter"),
    (f"otpauth://hotp/ACME:alice?secret={B32}&counter=0&period=30", "HOTP URI has no period"),
    *(
        (f"otpauth://totp/ACME:alice?secret={B32}&algorithm={a}", "SHA1, SHA256 or SHA512")
        for a in ["MD5", "SHA-256", "", "SHA224", "sha3_256"]
    ),
    # parameters
    (f"otpauth://totp/ACME:alice?secret={B32}&secret={B32}", "secret parameter appears more than once"),
    (f"otpauth://totp/ACME:alice?secret={B32}&issuer=ACME&issuer=ACME", "issuer parameter appears more"),
    (f"otpauth://totp/ACME:alice?secret={B32}&digits=6&digits=6", "digits parameter appears more"),
    (f"otpauth://totp/ACME:alice?secret={B32}&SECRET={B32}", "secret parameter appears more"),
    (f"otpauth://totp/ACME:alice?secret={B32}&secr%65t={B32}", "secret parameter appears more"),
    (f"otpauth://totp/ACME:alice?secret={B32}&icon=a&icon=b", "unknown parameter appears more"),
    (f"otpauth://totp/ACME:alice?Secret={B32}", "lower case"),
    (f"otpauth://totp/ACME:alice?secret={B32}&Digits=6", "lower case"),
    (f"otpauth://totp/ACME:alice?secret={B32}&lock", "no '='"),
    (f"otpauth://totp/ACME:alice?{B32}", "no '='"),
    (f"otpauth://totp/ACME:alice?secret={B32}&=x", "empty name"),
    (f"otpauth://totp/ACME:alice?secret={B32}&image=a&image=b", "image parameter appears more"),
    # control characters, raw and encoded
    *(
        (f"otpauth://totp/ACME:al{c}ice?secret={B32}", "control character")
        for c in ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9f"]
    ),
    (f"otpauth://totp/ACME:alice?secret={B32}&issuer=AC\nME", "control character"),
    (f"\notpauth://totp/ACME:alice?secret={B32}", "control character"),
    (f"otpauth://totp/ACME:alice?secret={B32}\n", "control character"),
    (f"otpauth://totp/ACME:alice\ud800?secret={B32}", "surrogate"),
    *(
        (f"otpauth://totp/ACME:al{c}ice?secret={B32}", "control character once percent-decoded")
        for c in ["%0A", "%0d", "%00", "%1B", "%7F", "%C2%85"]
    ),
    (f"otpauth://totp/AC%00ME:alice?secret={B32}", "control character once percent-decoded"),
    (f"otpauth://totp/ACME:alice?secret={B32}&issuer=AC%0AME", "control character once percent-decoded"),
    (f"otpauth://totp/ACME:alice?secret={B32}&x%00=1", "control character once percent-decoded"),
    (f"otpauth://totp/ACME:alice?secret={B32}&x=%00", "control character once percent-decoded"),
    # percent-encoding and UTF-8
    *(
        (f"otpauth://totp/ACME:al{e}ice?secret={B32}", "does not start a %XX escape")
        for e in ["%", "%G1", "%4", "%%41"]
    ),
    (f"otpauth://totp/ACME:alice?secret={B32}&issuer=%", "does not start a %XX escape"),
    *(
        (f"otpauth://totp/ACME:al{e}ice?secret={B32}", "not UTF-8")
        for e in ["%FF", "%C3", "%C0%AF", "%ED%A0%80", "%E6%97"]
    ),
    (f"otpauth://totp/ACME:alice?secret={B32}&x=%FF", "not UTF-8"),
]


class TestParseRejects:
    """Anything else is a UriError that names the problem and never the content."""

    @pytest.mark.parametrize(("uri", "reason"), REJECTED, ids=lambda v: repr(v)[:60] if "://" in v else v)
    def test_rejected(self, uri: str, reason: str) -> None:
        """The URI is refused for the stated reason."""
        with pytest.raises(UriError, match=reason) as caught:
            parse_uri(uri)
        message = str(caught.value)
        assert B32 not in message
        assert len(uri) < 16 or uri not in message

    def test_too_long_before_anything_else(self) -> None:
        """A huge input is refused on its length alone."""
        with pytest.raises(UriError, match="at most 4096"):
            parse_uri("\x00" * 10**7)

    @pytest.mark.parametrize("uri", [b"otpauth://totp/a?secret=" + B32.encode(), None, 1])
    def test_not_a_str(self, uri: object) -> None:
        """The URI is a str."""
        with pytest.raises(TypeError, match="uri must be a str"):
            parse_uri(uri)  # type: ignore[arg-type]


class TestProvisioningUri:
    """The result type: frozen, slotted, redacted."""

    def test_repr_shows_no_secret(self) -> None:
        """The repr names the settings, never the secret, the URI or unknown values."""
        uri = make(query=f"secret={B32}&issuer=ACME&token=hunter2&icon=x")
        text = repr(parse_uri(uri))
        assert text == (
            "ProvisioningUri(TOTP(digits=6, period=30, algorithm=SHA1, t0=0), account='alice', "
            "issuer='ACME', counter=None, image=None, unknown_parameters=('token', 'icon'))"
        )
        assert str(parse_uri(uri)) == text

    def test_frozen(self) -> None:
        """Fields cannot be reassigned."""
        parsed = parse_uri(make())
        with pytest.raises(dataclasses.FrozenInstanceError):
            parsed.account = "mallory"  # type: ignore[misc]

    def test_slotted(self) -> None:
        """No per-instance dict."""
        assert not hasattr(parse_uri(make()), "__dict__")

    def test_equality_is_identity(self) -> None:
        """Two parses of one URI are different objects (the OTPs have no value equality)."""
        parsed = parse_uri(make())
        assert parsed == parsed  # noqa: PLR0124  # the reflexive case is the point
        assert parsed != parse_uri(make())

    def test_to_uri_is_canonical(self) -> None:
        """A URI in a legacy spelling comes back in build_uri's form; unknown parameters drop."""
        messy = f"OTPAUTH://TOTP/ACME%20Co%3A%20%20alice?digits=8&icon=x&secret={B32.lower()}&issuer=ACME+Co"
        assert (
            parse_uri(messy).to_uri()
            == f"otpauth://totp/ACME%20Co:alice?secret={B32}&issuer=ACME%20Co&digits=8"
        )

    def test_to_uri_of_an_hotp(self) -> None:
        """The counter is carried over."""
        parsed = parse_uri(make(kind="hotp", label="alice", query=f"counter=9&secret={B32}"))
        assert parsed.to_uri() == f"otpauth://hotp/alice?secret={B32}&counter=9"

    def test_constructed_directly(self) -> None:
        """The defaults describe a TOTP without issuer."""
        result = ProvisioningUri(TOTP(SECRET), "alice")
        assert (result.issuer, result.counter, result.image, result.unknown_parameters) == (
            None,
            None,
            None,
            (),
        )
        assert result.to_uri() == f"otpauth://totp/alice?secret={B32}"


class TestKeyUriFormatPage:
    """The examples of Google's Key Uri Format page parse as the page describes them."""

    @pytest.mark.parametrize("example", [r for r in PAGE if "URI" in r], ids=lambda r: r["COUNT"])
    def test_uri_examples(self, example: dict[str, str]) -> None:
        """Type, issuer, account, settings and the key bytes."""
        parsed = parse_uri(example["URI"], allow_short=True)
        otp = parsed.otp
        assert isinstance(otp, TOTP)
        assert example["TYPE"] == "totp"
        assert (parsed.issuer, parsed.account) == (example["ISSUER"], example["ACCOUNT"])
        assert (otp.digits, otp.algorithm.value, otp.period) == (
            int(example["DIGITS"]),
            example["ALGORITHM"],
            int(example["PERIOD"]),
        )
        if "KEY" in example:
            expected = bytes.fromhex(example["KEY"])
        else:
            expected = base64.b32decode(example["URI"].split("secret=")[1].split("&")[0])
        assert bytes(otp.secret) == expected

    @pytest.mark.parametrize("example", [r for r in PAGE if "LABEL" in r], ids=lambda r: r["LABEL"])
    def test_label_examples(self, example: dict[str, str]) -> None:
        """Each example label, with a secret added, gives the page's issuer and account."""
        parsed = parse_uri(make(label=example["LABEL"], query=f"secret={B32}"))
        assert (parsed.issuer, parsed.account) == (example["ISSUER"], example["ACCOUNT"])

    def test_the_page_is_all_there(self) -> None:
        """Two URI examples and four label spellings were copied."""
        assert sorted("URI" in r for r in PAGE) == [False] * 4 + [True] * 2


class TestRoundTrip:
    """parse_uri(build_uri(x)) reproduces x."""

    @given(provisionings())
    def test_round_trip(self, p: Provisioning) -> None:
        """Every field comes back, Unicode names included, and the OTP computes the same codes."""
        uri = build_uri(p.otp, account=p.account, issuer=p.issuer, counter=p.counter, image=p.image)
        parsed = parse_uri(uri)
        assert (parsed.account, parsed.issuer, parsed.counter, parsed.image) == (
            p.account,
            p.issuer,
            p.counter,
            p.image,
        )
        assert parsed.unknown_parameters == ()
        assert same_otp(parsed.otp, p.otp)
        if isinstance(p.otp, TOTP):
            assert isinstance(parsed.otp, TOTP)
            assert parsed.otp.at(1_700_000_000) == p.otp.at(1_700_000_000)
        else:
            assert isinstance(parsed.otp, HOTP)
            assert parsed.counter is not None
            assert parsed.otp.at(parsed.counter) == p.otp.at(p.counter or 0)

    @given(provisionings())
    def test_to_uri_is_a_fixed_point(self, p: Provisioning) -> None:
        """A built URI is already canonical: parsing and writing it again changes nothing."""
        uri = build_uri(p.otp, account=p.account, issuer=p.issuer, counter=p.counter, image=p.image)
        assert parse_uri(uri).to_uri() == uri

    @given(st.binary(min_size=10, max_size=15))
    def test_short_secret_round_trip(self, raw: bytes) -> None:
        """A legacy short secret comes back with allow_short=True."""
        uri = build_uri(TOTP(Secret(raw, allow_short=True)), account="a")
        assert bytes(parse_uri(uri, allow_short=True).otp.secret) == raw
