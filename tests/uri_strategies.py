"""Hypothesis strategies for otpauth URIs, shared by the URI, interop, fuzz and QR tests."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from totpcore import HOTP, TOTP, Algorithm, Secret

#: What build_uri accepts in an issuer or account: anything but a colon, a control
#: character or a lone surrogate (the last two cannot be in a URI at all).
NAME_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=":")

names = st.text(NAME_CHARACTERS, min_size=1, max_size=30)
#: The format strips spaces before the account, so build_uri refuses a leading one.
accounts = names.filter(lambda name: not name.startswith(" "))
#: An issuer may contain a colon (build_uri then writes it in the issuer parameter only).
issuers = names | st.builds("{}:{}".format, names, st.text(NAME_CHARACTERS, max_size=10))
secrets = st.binary(min_size=16, max_size=64).map(Secret)
digits = st.integers(min_value=6, max_value=8)
algorithms = st.sampled_from(Algorithm)
totps = st.builds(TOTP, secrets, digits=digits, period=st.integers(1, 120), algorithm=algorithms)
hotps = st.builds(HOTP, secrets, digits=digits, algorithm=algorithms)
images = st.builds(
    "https://logo.example/{}".format,
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=20),
)


@dataclass(frozen=True)
class Provisioning:
    """The arguments of one build_uri call."""

    otp: TOTP | HOTP
    account: str
    issuer: str | None
    counter: int | None
    image: str | None


@st.composite
def provisionings(draw: st.DrawFn) -> Provisioning:
    """Draw the arguments of a valid build_uri call: a TOTP, or an HOTP with a counter."""
    otp: TOTP | HOTP
    if draw(st.booleans()):
        otp, counter = draw(totps), None
    else:
        otp, counter = draw(hotps), draw(st.integers(0, 2**64 - 1))
    return Provisioning(otp, draw(accounts), draw(st.none() | issuers), counter, draw(st.none() | images))


def same_otp(a: TOTP | HOTP, b: TOTP | HOTP) -> bool:
    """Whether *a* and *b* are the same kind of OTP with the same settings and secret."""
    if type(a) is not type(b) or a.digits != b.digits or a.algorithm is not b.algorithm:
        return False
    if isinstance(a, TOTP) and isinstance(b, TOTP) and (a.period, a.t0) != (b.period, b.t0):
        return False
    return a.secret == b.secret
