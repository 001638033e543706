"""RFC 4226 HOTP generation: vectors, truncation, boundaries and bad input."""

from __future__ import annotations

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import HASHLIB, load_vectors, stdlib_hotp
from totpcore import HOTP, Algorithm, ConfigurationError, Secret, hotp
from totpcore.hotp import truncate

RFC4226 = load_vectors("rfc4226.txt")
RFC_SECRET = Secret(b"12345678901234567890")


def test_vector_file_is_complete() -> None:
    """The RFC 4226 file holds the ten Appendix D rows, counters 0 to 9."""
    assert [int(v["COUNT"]) for v in RFC4226] == list(range(10))


@pytest.mark.parametrize("v", RFC4226, ids=lambda v: f"count{v['COUNT']}")
class TestRfc4226AppendixD:
    """Every column of RFC 4226 Appendix D Tables 1 and 2."""

    def test_hmac(self, v: dict[str, str]) -> None:
        """HMAC-SHA-1(secret, counter) matches Table 1."""
        assert HOTP(RFC_SECRET).digest(int(v["COUNT"])).hex() == v["HMAC"]

    def test_truncation(self, v: dict[str, str]) -> None:
        """Dynamic truncation of the Table 1 HMAC gives Table 2's value, hex and decimal."""
        value = truncate(bytes.fromhex(v["HMAC"]))
        assert value == int(v["TRUNCATED_HEX"], 16) == int(v["TRUNCATED_DEC"])

    def test_code(self, v: dict[str, str]) -> None:
        """HOTP.at and hotp() give Table 2's 6-digit value."""
        counter = int(v["COUNT"])
        assert HOTP(RFC_SECRET).at(counter) == hotp(RFC_SECRET, counter) == v["HOTP"]

    @pytest.mark.parametrize("digits", [7, 8])
    def test_longer_codes_keep_leading_zeros(self, v: dict[str, str], digits: int) -> None:
        """7 and 8 digits are the truncated decimal modulo 10**digits, zero-padded."""
        expected = str(int(v["TRUNCATED_DEC"]) % 10**digits).rjust(digits, "0")
        assert HOTP(RFC_SECRET, digits=digits).at(int(v["COUNT"])) == expected


def test_worked_example_of_section_5_4() -> None:
    """RFC 4226 §5.4: offset 0xa gives DBC 0x50ef7f19 and the code 872921."""
    mac = bytes.fromhex("1f8698690e02ca16618550ef7f19da8e945b555a")
    assert truncate(mac) == 0x50EF7F19
    assert truncate(mac) % 10**6 == 872921


def test_truncation_masks_the_top_bit() -> None:
    """The most significant bit of the 4-byte word is dropped (RFC 4226 §5.3 'last 31 bits')."""
    mac = bytes([0xFF] * 19 + [0x00])
    assert truncate(mac) == 0x7FFFFFFF


def test_truncation_offset_comes_from_the_last_byte_of_long_digests() -> None:
    """For a 64-byte digest the offset is in byte 63, not byte 19 (RFC 6238 Appendix A)."""
    mac = bytearray(64)
    mac[19] = 0x00  # an implementation reading byte 19 would use offset 0
    mac[63] = 0x05
    mac[5:9] = b"\x12\x34\x56\x78"
    assert truncate(bytes(mac)) == 0x12345678


class TestCounterBounds:
    """The counter is 8 bytes: 0 <= counter < 2**64 (RFC 4226 §5.2)."""

    @pytest.mark.parametrize("counter", [0, 1, 2**32, 2**63, 2**64 - 1])
    def test_accepted_counters(self, counter: int) -> None:
        """Counters up to 2**64 - 1 agree with an independent stdlib computation."""
        assert HOTP(RFC_SECRET).at(counter) == stdlib_hotp(bytes(RFC_SECRET), counter, 6, Algorithm.SHA1)

    @pytest.mark.parametrize("counter", [-1, 2**64, 2**70])
    def test_out_of_range_counters(self, counter: int) -> None:
        """Negative counters and counters of 2**64 or more are ConfigurationErrors."""
        with pytest.raises(ConfigurationError, match="counter"):
            HOTP(RFC_SECRET).at(counter)
        with pytest.raises(ConfigurationError, match="counter"):
            HOTP(RFC_SECRET).digest(counter)

    @pytest.mark.parametrize("counter", [True, 1.0, "1", None])
    def test_counters_of_the_wrong_type(self, counter: object) -> None:
        """A counter must be an int; bool, float and str are refused, not coerced."""
        with pytest.raises(TypeError, match="counter must be an int"):
            HOTP(RFC_SECRET).at(counter)  # type: ignore[arg-type]


class TestParameters:
    """Constructor arguments are checked with actionable errors."""

    @pytest.mark.parametrize("digits", [0, 5, 9, 10])
    def test_digits_out_of_range(self, digits: int) -> None:
        """Only 6, 7 and 8 digits are supported (RFC 4226 §5.3)."""
        with pytest.raises(ConfigurationError, match="digits"):
            HOTP(RFC_SECRET, digits=digits)

    @pytest.mark.parametrize("digits", ["6", 6.0, True])
    def test_digits_of_the_wrong_type(self, digits: object) -> None:
        """Digits must be an int."""
        with pytest.raises(TypeError, match="digits"):
            HOTP(RFC_SECRET, digits=digits)  # type: ignore[arg-type]

    def test_algorithm_must_be_the_enum(self) -> None:
        """A hash name as text is refused: Algorithm['SHA256'] converts it."""
        with pytest.raises(TypeError, match="Algorithm"):
            HOTP(RFC_SECRET, algorithm="SHA256")  # type: ignore[arg-type]

    @pytest.mark.parametrize("secret", [b"12345678901234567890", "GEZDGNBVGY3TQOJQ", None])
    def test_secret_must_be_a_secret(self, secret: object) -> None:
        """Raw bytes and base32 text must be wrapped in Secret, which checks their length."""
        with pytest.raises(TypeError, match="Secret"):
            HOTP(secret)  # type: ignore[arg-type]

    def test_properties(self) -> None:
        """The parameters are readable back; repr shows them and nothing of the secret."""
        otp = HOTP(RFC_SECRET, digits=8, algorithm=Algorithm.SHA512)
        assert (otp.secret, otp.digits, otp.algorithm) == (RFC_SECRET, 8, Algorithm.SHA512)
        assert repr(otp) == "HOTP(digits=8, algorithm=SHA512)"


@pytest.mark.parametrize("algorithm", Algorithm)
@pytest.mark.parametrize("extra", [-1, 0, 1, 36])
def test_keys_longer_than_a_block_are_hashed_first(algorithm: Algorithm, extra: int) -> None:
    """RFC 2104 §2: a key longer than the hash block is replaced by its hash; one of a block is not."""
    key = bytes(range(algorithm.block_size + extra))
    assert HOTP(Secret(key), algorithm=algorithm).at(7) == stdlib_hotp(key, 7, 6, algorithm)


@given(
    key=st.binary(min_size=16, max_size=200),
    counter=st.integers(min_value=0, max_value=2**64 - 1),
    digits=st.integers(min_value=6, max_value=8),
    algorithm=st.sampled_from(Algorithm),
)
def test_matches_independent_implementations(
    key: bytes, counter: int, digits: int, algorithm: Algorithm
) -> None:
    """HOTP agrees with a stdlib oracle and with pyotp for any key, counter, length and hash."""
    ours = HOTP(Secret(key), digits=digits, algorithm=algorithm).at(counter)
    assert ours == stdlib_hotp(key, counter, digits, algorithm)
    peer = pyotp.HOTP(Secret(key).to_base32(), digits=digits, digest=HASHLIB[algorithm])
    assert ours == peer.at(counter)
    assert len(ours) == digits
    assert ours.isascii()
    assert ours.isdigit()
