"""otpauth:// interoperability: pyotp reads our URIs; we read pyotp's and cryptography's.

The peers are independent implementations: where they and totpcore agree on the secret,
the names, the settings and the codes, neither side computed the expected value alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor.hotp import HOTP as PeerHOTP  # noqa: N811
from cryptography.hazmat.primitives.twofactor.totp import TOTP as PeerTOTP  # noqa: N811
from hypothesis import given
from hypothesis import strategies as st

from totpcore import HOTP, TOTP, Algorithm, build_uri, parse_uri
from uri_strategies import Provisioning, accounts, algorithms, digits, issuers, provisionings

TIMES = [0, 59, 1_111_111_109, 1_234_567_890, 2_000_000_000, 20_000_000_000]
PYOTP_DIGEST = {
    Algorithm.SHA1: hashlib.sha1,
    Algorithm.SHA256: hashlib.sha256,
    Algorithm.SHA512: hashlib.sha512,
}
PEER_HASH: dict[Algorithm, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA512]] = {
    Algorithm.SHA1: hashes.SHA1,
    Algorithm.SHA256: hashes.SHA256,
    Algorithm.SHA512: hashes.SHA512,
}
keys = st.binary(min_size=16, max_size=64)
periods = st.integers(min_value=1, max_value=120)
counters = st.integers(min_value=0, max_value=2**64 - 2)


def utc(t: int) -> dt.datetime:
    """Unix time *t* as an aware datetime: pyotp reads naive times as local time."""
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)


def unpadded_base32(raw: bytes) -> str:
    """Base32 of *raw* without padding, by the standard library."""
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def b32_bytes(text: str) -> bytes:
    """Decode base32 with or without padding, by the standard library."""
    return base64.b32decode(text + "=" * (-len(text) % 8), casefold=True)


class TestPyotpReadsOurs:
    """pyotp.parse_uri reads what build_uri writes, to the same secret, names, settings and codes."""

    @given(provisionings())
    def test_same_fields_and_codes(self, p: Provisioning) -> None:
        """Secret, issuer, account, digits, algorithm, period or counter, and codes agree."""
        theirs = pyotp.parse_uri(
            build_uri(p.otp, account=p.account, issuer=p.issuer, counter=p.counter, image=p.image)
        )
        assert b32_bytes(theirs.secret) == bytes(p.otp.secret)
        assert (theirs.name, theirs.issuer, theirs.digits) == (p.account, p.issuer, p.otp.digits)
        assert theirs.digest().name == p.otp.algorithm.value.lower()
        if isinstance(p.otp, TOTP):
            assert isinstance(theirs, pyotp.TOTP)
            assert theirs.interval == p.otp.period
            assert [theirs.at(utc(t)) for t in TIMES] == [p.otp.at(t) for t in TIMES]
        else:
            assert isinstance(theirs, pyotp.HOTP)
            assert p.counter is not None
            assert theirs.initial_count == p.counter
            ours = [p.otp.at(c) for c in (p.counter, p.counter + 1) if c < 2**64]
            assert [theirs.at(i) for i in range(len(ours))] == ours


class TestWeReadPyotp:
    """parse_uri reads what pyotp's provisioning_uri writes."""

    @given(keys, accounts, st.none() | issuers, digits, periods, algorithms)
    def test_totp(
        self, raw: bytes, account: str, issuer: str | None, n: int, period: int, algorithm: Algorithm
    ) -> None:
        """Names, settings and codes of a pyotp TOTP URI."""
        theirs = pyotp.TOTP(unpadded_base32(raw), digits=n, interval=period, digest=PYOTP_DIGEST[algorithm])
        parsed = parse_uri(theirs.provisioning_uri(name=account, issuer_name=issuer))
        otp = parsed.otp
        assert isinstance(otp, TOTP)
        assert (parsed.account, parsed.issuer, parsed.counter) == (account, issuer, None)
        assert (bytes(otp.secret), otp.digits, otp.period, otp.algorithm) == (raw, n, period, algorithm)
        assert [otp.at(t) for t in TIMES] == [theirs.at(utc(t)) for t in TIMES]

    @given(keys, accounts, st.none() | issuers, digits, algorithms, counters)
    def test_hotp(
        self, raw: bytes, account: str, issuer: str | None, n: int, algorithm: Algorithm, counter: int
    ) -> None:
        """Names, settings, counter and codes of a pyotp HOTP URI."""
        theirs = pyotp.HOTP(
            unpadded_base32(raw), digits=n, digest=PYOTP_DIGEST[algorithm], initial_count=counter
        )
        parsed = parse_uri(theirs.provisioning_uri(name=account, issuer_name=issuer))
        otp = parsed.otp
        assert isinstance(otp, HOTP)
        assert (parsed.account, parsed.issuer, parsed.counter) == (account, issuer, counter)
        assert (bytes(otp.secret), otp.digits, otp.algorithm) == (raw, n, algorithm)
        assert [otp.at(counter), otp.at(counter + 1)] == [theirs.at(0), theirs.at(1)]

    def test_image_and_a_raw_slash(self) -> None:
        """A raw '/' in pyotp's label (its quote() keeps it) and its image parameter."""
        theirs = pyotp.TOTP(unpadded_base32(bytes(range(20))))
        uri = theirs.provisioning_uri(name="a/b c", issuer_name="R&D/EMR", image="https://logo.example/x.png")
        assert (
            "/R%26D/EMR:a/b%20c?" in uri
        )  # what the peer writes, checked so this test cannot pass vacuously
        parsed = parse_uri(uri)
        assert (parsed.account, parsed.issuer, parsed.image) == (
            "a/b c",
            "R&D/EMR",
            "https://logo.example/x.png",
        )


class TestWeReadCryptography:
    """parse_uri reads what cryptography's get_provisioning_uri writes."""

    @given(keys, accounts, st.none() | issuers, digits, periods, algorithms)
    def test_totp(
        self, raw: bytes, account: str, issuer: str | None, n: int, period: int, algorithm: Algorithm
    ) -> None:
        """Padded secrets, '+' for spaces in the issuer parameter, every parameter written."""
        theirs = PeerTOTP(raw, n, PEER_HASH[algorithm](), period)
        parsed = parse_uri(theirs.get_provisioning_uri(account, issuer))
        otp = parsed.otp
        assert isinstance(otp, TOTP)
        assert (parsed.account, parsed.issuer, parsed.counter) == (account, issuer, None)
        assert (bytes(otp.secret), otp.digits, otp.period, otp.algorithm) == (raw, n, period, algorithm)
        assert [otp.at(t) for t in TIMES] == [theirs.generate(t).decode("ascii") for t in TIMES]

    @given(keys, accounts, st.none() | issuers, digits, algorithms, counters)
    def test_hotp(
        self, raw: bytes, account: str, issuer: str | None, n: int, algorithm: Algorithm, counter: int
    ) -> None:
        """Names, settings, counter and codes of a cryptography HOTP URI."""
        theirs = PeerHOTP(raw, n, PEER_HASH[algorithm]())
        parsed = parse_uri(theirs.get_provisioning_uri(account, counter, issuer))
        otp = parsed.otp
        assert isinstance(otp, HOTP)
        assert (parsed.account, parsed.issuer, parsed.counter) == (account, issuer, counter)
        assert (bytes(otp.secret), otp.digits, otp.algorithm) == (raw, n, algorithm)
        assert otp.at(counter) == theirs.generate(counter).decode("ascii")

    def test_the_peer_really_pads_and_uses_plus(self) -> None:
        """The two spellings the tests above rely on are what the peer writes."""
        peer = PeerTOTP(bytes(16), 6, hashes.SHA1(), 30)  # noqa: S303  # HMAC-SHA-1 of RFC 4226
        uri = peer.get_provisioning_uri("a", "ACME Co")
        assert "%3D%3D%3D%3D%3D%3D" in uri
        assert "issuer=ACME+Co" in uri
        assert parse_uri(uri).issuer == "ACME Co"


class TestKeyUriFormatPageCodes:
    """The page's full examples give the same codes in totpcore and in cryptography.

    cryptography, not pyotp: pyotp 2.12 refuses the page's 80-bit example key, while
    cryptography reads it with ``enforce_key_length=False``.
    """

    @pytest.mark.parametrize(
        "uri",
        [
            line.partition("=")[2].strip()
            for line in (Path(__file__).parent / "data" / "key-uri-format.txt")
            .read_text("utf-8")
            .splitlines()
            if line.startswith("URI =")
        ],
    )
    def test_codes(self, uri: str) -> None:
        """The key, decoded by the standard library, gives the peer the same codes."""
        ours = parse_uri(uri, allow_short=True).otp
        key = b32_bytes(uri.partition("secret=")[2].partition("&")[0])
        theirs = PeerTOTP(key, 6, hashes.SHA1(), 30, enforce_key_length=False)  # noqa: S303
        assert isinstance(ours, TOTP)
        assert [ours.at(t) for t in TIMES] == [theirs.generate(t).decode("ascii") for t in TIMES]
