"""Fuzzing parse_uri: UriError is the only exception and never leaks; what parses, builds.

Whatever parse_uri accepts, ProvisioningUri.to_uri() writes back to the same values.

Inputs are random text and bytes, URIs assembled from plausible and implausible pieces,
valid URIs mutated (truncated, cut, spliced, separators doubled, parameters repeated), and
URIs spelled the ways real producers spell them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from totpcore import TOTP, ProvisioningUri, Secret, SecretError, UriError, build_uri, parse_uri
from totpcore.uri import MAX_URI_LENGTH
from uri_strategies import Provisioning, accounts, images, issuers, provisionings, same_otp

SEPARATORS = ":/?&=%#+"
RFC_SECRET = Secret(b"12345678901234567890")
B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
KNOWN = ["secret", "issuer", "algorithm", "digits", "period", "counter", "image"]
# Pieces that reach deep into the parser: escapes, separators, near-valid values.
PIECES = [
    *SEPARATORS,
    "%3A",
    "%3a",
    "%20",
    "%",
    "%0",
    "%00",
    "%FF",
    "%C3",
    "%C3%A9",
    " ",
    "+",
    "\x00",
    "\n",
    "\x85",
    "\ud800",
    "é",
    "日",
    "ACME",
    "alice",
    B32,
    "JBSWY3DP",
    "=",
    "==",
    "6",
    "8",
    "30",
    "0",
    "-1",
    "18446744073709551616",
    "SHA1",
    "sha256",
    "MD5",
    "https://logo.example/a.png",
    "http://x",
    *KNOWN,
]


def window_leaks(secret: str, message: str, width: int = 8) -> bool:
    """Whether any *width* consecutive characters of *secret* appear in *message*."""
    return any(secret[i : i + width] in message for i in range(len(secret) - width + 1))


def builds_back(parsed: ProvisioningUri) -> None:
    """to_uri() writes what parse_uri accepted, and parsing that gives the same values."""
    again = parse_uri(parsed.to_uri(), allow_short=True)
    assert (again.account, again.issuer, again.counter, again.image) == (
        parsed.account,
        parsed.issuer,
        parsed.counter,
        parsed.image,
    )
    assert same_otp(again.otp, parsed.otp)


def check(text: str, secret: str = "") -> None:
    """Parse *text*: succeed and build back, or raise a UriError repeating neither input nor secret."""
    try:
        parsed = parse_uri(text)
    except UriError as exc:
        error = exc
    else:
        builds_back(parsed)
        return
    messages = [str(error), repr(error)]
    if error.__cause__ is not None:
        assert isinstance(error.__cause__, SecretError)
        messages.append(str(error.__cause__))
    for message in messages:
        assert len(text) < 16 or text not in message
        assert not window_leaks(secret, message)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """A valid URI with one to four mutations applied, and the base32 secret it started with."""
    p: Provisioning = draw(provisionings())
    uri = build_uri(p.otp, account=p.account, issuer=p.issuer, counter=p.counter, image=p.image)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(uri)))
        j = draw(st.integers(i, len(uri)))
        operation = draw(
            st.sampled_from(["truncate", "cut", "insert", "double", "replace", "repeat", "case"])
        )
        if operation == "truncate":
            uri = uri[:i]
        elif operation == "cut":
            uri = uri[:i] + uri[j:]
        elif operation == "insert":
            uri = uri[:i] + draw(st.sampled_from(PIECES) | st.text(max_size=5)) + uri[i:]
        elif operation == "double":
            positions = [k for k, c in enumerate(uri) if c in SEPARATORS]
            if positions:
                k = draw(st.sampled_from(positions))
                uri = uri[: k + 1] + uri[k:]
        elif operation == "replace" and i < len(uri):
            uri = uri[:i] + draw(st.characters()) + uri[i + 1 :]
        elif operation == "repeat":
            fields = uri.partition("?")[2].split("&")
            uri = f"{uri}&{draw(st.sampled_from(fields))}"
        else:
            uri = uri[:i] + uri[i:j].swapcase() + uri[j:]
    return uri, p.otp.secret.to_base32()


SPELLINGS: list[Callable[[str], str]] = [
    lambda name: quote(name, safe=""),
    lambda name: quote(name, safe=":@ "),
    quote_plus,
]


@st.composite
def producer_uris(draw: st.DrawFn) -> str:
    """A URI as some generator might spell it.

    The label prefix in another case or with '+', a colon inside the issuer, the issuer
    parameter or not, optional parameters in any order.
    """
    issuer = draw(st.none() | issuers)
    spell = draw(st.sampled_from(SPELLINGS))
    label = quote(draw(accounts), safe="@")
    if issuer is not None and draw(st.booleans()):
        prefix = draw(st.sampled_from([issuer, issuer.swapcase(), issuer.upper()]))
        label = spell(prefix) + draw(st.sampled_from([":", "%3A", "%3a", ":%20", ": "])) + label
    secret = Secret(draw(st.binary(min_size=16, max_size=40))).to_base32()
    fields = [("secret", draw(st.sampled_from([secret, secret.lower()])))]
    if issuer is not None and draw(st.booleans()):
        fields.append(("issuer", issuer))
    kind = draw(st.sampled_from(["totp", "hotp", "TOTP"]))
    optional: dict[str, st.SearchStrategy[str]] = {
        "digits": st.sampled_from(["6", "7", "8"]),
        "algorithm": st.sampled_from(["SHA1", "sha256", "Sha512"]),
        "image": images | st.sampled_from(["http://logo.example/a.png", "logo.png", ""]),
        "color": st.text(max_size=5),
    }
    if kind == "hotp":
        optional["counter"] = st.integers(0, 2**64 - 1).map(str)
    else:
        optional["period"] = st.integers(1, 120).map(str)
    fields += [(name, draw(values)) for name, values in optional.items() if draw(st.booleans())]
    query = "&".join(f"{name}={spell(value)}" for name, value in draw(st.permutations(fields)))
    return f"otpauth://{kind}/{label}?{query}"


class TestParseThenBuild:
    """What parse_uri accepts, to_uri() accepts, and parsing its output gives the same values."""

    @given(producer_uris())
    def test_producer_spellings(self, uri: str) -> None:
        """Every spelling a real producer might use that parses also builds and round-trips."""
        try:
            parsed = parse_uri(uri)
        except UriError:
            return
        builds_back(parsed)

    @given(provisionings())
    def test_every_accepted_result_of_build(self, p: Provisioning) -> None:
        """The canonical URIs of any provisioning, issuers with a colon included, parse and build back."""
        uri = build_uri(p.otp, account=p.account, issuer=p.issuer, counter=p.counter, image=p.image)
        builds_back(parse_uri(uri))


class TestOnlyUriError:
    """No input makes parse_uri raise anything but UriError."""

    @given(st.text(max_size=400))
    def test_random_text(self, text: str) -> None:
        """Arbitrary Unicode, surrogates included."""
        check(text)

    @given(st.binary(max_size=400))
    def test_random_bytes(self, data: bytes) -> None:
        """Arbitrary bytes, read as Latin-1 and as UTF-8 with escaped surrogates."""
        check(data.decode("latin-1"))
        check(data.decode("utf-8", errors="surrogateescape"))

    @given(st.sampled_from(["otpauth://totp/", "otpauth://hotp/", "OTPAUTH://TOTP/"]), st.text(max_size=400))
    def test_random_text_after_a_valid_start(self, start: str, text: str) -> None:
        """Past the scheme and type, where the label and query parsers run."""
        check(start + text)

    @given(
        st.sampled_from(["totp", "hotp"]),
        st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
        st.lists(
            st.tuples(
                st.sampled_from([*KNOWN, "x", "Secret", ""]), st.lists(st.sampled_from(PIECES), max_size=4)
            ),
            max_size=8,
        ),
    )
    def test_assembled_from_pieces(self, kind: str, label: str, fields: list[tuple[str, list[str]]]) -> None:
        """Labels and parameters built from separators, escapes and near-valid values."""
        query = "&".join(f"{name}={''.join(value)}" for name, value in fields)
        check(f"otpauth://{kind}/{label}?{query}", B32)

    @given(mutated())
    def test_mutated_valid_uris(self, case: tuple[str, str]) -> None:
        """Truncations, cuts, insertions, doubled separators, repeated parameters, case flips."""
        check(*case)


class TestDoubledSeparators:
    """Each separator of a valid URI doubled in turn."""

    URI = build_uri(
        TOTP(RFC_SECRET, digits=8),
        account="alice@example.com",
        issuer="ACME Co",
    )

    @pytest.mark.parametrize("position", [k for k, c in enumerate(URI) if c in SEPARATORS])
    def test_doubled(self, position: int) -> None:
        """Refused with UriError or read; never another exception."""
        check(self.URI[: position + 1] + self.URI[position:], B32)


class TestHugeInputs:
    """Inputs far beyond the limit are refused at once, on their length alone."""

    @pytest.mark.parametrize("size", [MAX_URI_LENGTH + 1, 10**6, 10**7])
    @pytest.mark.parametrize("fill", ["a", "%", ":", "&", "\x00", "%3A%20"])
    def test_refused_quickly(self, size: int, fill: str) -> None:
        """UriError naming the limit, in well under a second."""
        text = "otpauth://totp/" + fill * size
        started = time.perf_counter()
        with pytest.raises(UriError, match=f"at most {MAX_URI_LENGTH}"):
            parse_uri(text)
        assert time.perf_counter() - started < 0.5

    @pytest.mark.parametrize("fill", ["%20", ":", "&", "%3A", "a=b&", "%C3%A9", " "])
    def test_at_the_limit(self, fill: str) -> None:
        """A URI just under the limit made of one repeated piece parses or fails fast."""
        start = "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&x="
        text = start + fill * ((MAX_URI_LENGTH - len(start)) // len(fill))
        started = time.perf_counter()
        check(text, B32)
        assert time.perf_counter() - started < 0.5


class TestBuildFuzz:
    """build_uri with arbitrary names: a URI that round-trips, or UriError."""

    @given(st.text(max_size=40), st.none() | st.text(max_size=40))
    def test_arbitrary_names(self, account: str, issuer: str | None) -> None:
        """Whatever the names, the only failure is UriError, and success round-trips."""
        otp = TOTP(RFC_SECRET)
        try:
            uri = build_uri(otp, account=account, issuer=issuer)
        except UriError:
            return
        parsed = parse_uri(uri)
        assert (parsed.account, parsed.issuer) == (account, issuer)
