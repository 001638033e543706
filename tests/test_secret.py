"""Secret: generation, base32, length policy, redaction and comparison."""

from __future__ import annotations

import base64
import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from totpcore import Secret, SecretError

RFC_KEY = b"12345678901234567890"


class TestGenerate:
    """Secret.generate draws from the secrets module."""

    def test_default_is_160_bits(self) -> None:
        """RFC 4226 §4 R6 recommends 160 bits."""
        assert len(Secret.generate()) == 20

    def test_uses_the_secrets_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The bytes come from secrets.token_bytes (a CSPRNG, OWASP ASVS 6.5.3)."""
        calls: list[int] = []

        def recording(n: int) -> bytes:
            calls.append(n)
            return b"\x01" * n

        monkeypatch.setattr("totpcore.secret.secrets.token_bytes", recording)
        assert bytes(Secret.generate(32)) == b"\x01" * 32
        assert calls == [32]

    def test_secrets_are_distinct(self) -> None:
        """A thousand generated secrets are all different."""
        assert len({bytes(Secret.generate()) for _ in range(1000)}) == 1000

    @pytest.mark.parametrize("nbytes", [0, 10, 15, 1025])
    def test_sizes_out_of_range(self, nbytes: int) -> None:
        """Generated secrets are 16 to 1024 bytes; there is no short opt-in for new secrets."""
        with pytest.raises(SecretError, match="nbytes"):
            Secret.generate(nbytes)

    @pytest.mark.parametrize("nbytes", [20.0, "20", True])
    def test_size_of_the_wrong_type(self, nbytes: object) -> None:
        """Nbytes is an int."""
        with pytest.raises(TypeError, match="nbytes"):
            Secret.generate(nbytes)  # type: ignore[arg-type]


class TestLength:
    """At least 128 bits (RFC 4226 §4 R6), with an explicit legacy opt-in."""

    def test_sixteen_bytes_accepted(self) -> None:
        """128 bits is the floor."""
        assert len(Secret(bytes(16))) == 16

    def test_fifteen_bytes_refused_with_a_hint(self) -> None:
        """120 bits is refused, and the message names the opt-in."""
        with pytest.raises(SecretError, match="allow_short=True"):
            Secret(bytes(15))

    def test_legacy_opt_in(self) -> None:
        """allow_short accepts 80 to 120 bits for importing old enrollments."""
        assert len(Secret(bytes(10), allow_short=True)) == 10
        assert len(Secret.from_base32("JBSWY3DPEHPK3PXP", allow_short=True)) == 10

    def test_legacy_floor(self) -> None:
        """Even with the opt-in, fewer than 80 bits is refused."""
        with pytest.raises(SecretError, match="at least 10 bytes"):
            Secret(bytes(9), allow_short=True)

    def test_upper_bound(self) -> None:
        """More than 1024 bytes is refused."""
        with pytest.raises(SecretError, match="at most 1024"):
            Secret(bytes(1025))

    @pytest.mark.parametrize("raw", ["12345678901234567890", 1234, None, memoryview(RFC_KEY)])
    def test_wrong_types(self, raw: object) -> None:
        """Text is not bytes: from_base32 is the way in for text."""
        with pytest.raises(TypeError, match="from_base32"):
            Secret(raw)  # type: ignore[arg-type]

    def test_bytearray_is_copied(self) -> None:
        """A bytearray is accepted and copied, so later changes to it do not leak in."""
        buffer = bytearray(RFC_KEY)
        secret = Secret(buffer)
        buffer[0] = 0
        assert bytes(secret) == RFC_KEY


class TestBase32:
    """from_base32 / to_base32 (RFC 4648 §6), as users type and URIs carry them."""

    def test_round_trip_of_the_rfc_key(self) -> None:
        """The RFC key encodes to its well-known base32 form."""
        assert Secret(RFC_KEY).to_base32() == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

    @pytest.mark.parametrize(
        "text",
        [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
        ],
    )
    def test_case_spaces_and_hyphens_are_ignored(self, text: str) -> None:
        """Users type secrets in groups and in lower case."""
        assert bytes(Secret.from_base32(text)) == RFC_KEY

    def test_padding_is_optional(self) -> None:
        """Padded and unpadded forms decode alike; to_base32 never pads."""
        padded = base64.b32encode(bytes(range(17))).decode()
        assert padded.endswith("=")
        assert Secret.from_base32(padded) == Secret.from_base32(padded.rstrip("="))
        assert "=" not in Secret(bytes(range(17))).to_base32()

    @pytest.mark.parametrize(
        ("text", "position"),
        [
            ("GEZDG0BVGY3TQOJQGEZDGNBVGY3TQOJQ", 6),
            ("GEZD1NBVGY3TQOJQ", 5),
            ("GEZDGNBVGY3TQOJ!", 16),
            ("ÄEZDGNBVGY3TQOJQ", 1),
        ],
    )
    def test_bad_characters_are_located_not_echoed(self, text: str, position: int) -> None:
        """The error names the position; it never repeats the text, which is secret."""
        with pytest.raises(SecretError, match=f"character {position} ") as caught:
            Secret.from_base32(text)
        assert text not in str(caught.value)
        assert text[:8] not in str(caught.value)

    def test_padding_in_the_middle(self) -> None:
        """'=' may only end the secret."""
        with pytest.raises(SecretError, match=r"character 9 .*padding"):
            Secret.from_base32("GEZDGNBV=GY3TQOJQGEZDGNBVGY3TQOJQ")

    @pytest.mark.parametrize("length", [1, 3, 6, 25])
    def test_impossible_lengths(self, length: int) -> None:
        """No base32 encoding has 1, 3 or 6 characters beyond a multiple of 8."""
        with pytest.raises(SecretError, match="truncated or mistyped"):
            Secret.from_base32("A" * length)

    @pytest.mark.parametrize("text", ["", "   ", "====", "- -"])
    def test_empty(self, text: str) -> None:
        """Nothing to decode."""
        with pytest.raises(SecretError, match="empty"):
            Secret.from_base32(text)

    def test_short_after_decoding(self) -> None:
        """The length rule applies to decoded bytes, not to characters (CVE-2024-8796)."""
        with pytest.raises(SecretError, match="15 bytes"):
            Secret.from_base32("A" * 24)

    def test_wrong_type(self) -> None:
        """Bytes are not base32 text."""
        with pytest.raises(TypeError, match="str"):
            Secret.from_base32(b"GEZDGNBVGY3TQOJQ")  # type: ignore[arg-type]

    @given(st.binary(min_size=16, max_size=128))
    def test_round_trip(self, raw: bytes) -> None:
        """from_base32(to_base32(s)) == s, also in lower case."""
        text = Secret(raw).to_base32()
        assert bytes(Secret.from_base32(text)) == raw
        assert bytes(Secret.from_base32(text.lower())) == raw
        assert text == base64.b32encode(raw).decode().rstrip("=")


class TestRedaction:
    """A secret is never shown."""

    def test_repr_and_str(self) -> None:
        """Repr and str show only the length."""
        secret = Secret(RFC_KEY)
        for text in (repr(secret), str(secret), f"{secret}", f"{[secret]}"):
            assert "Secret(<20 bytes, redacted>)" in text
            assert "1234567890" not in text
            assert secret.to_base32() not in text
            assert RFC_KEY.hex() not in text

    def test_pickle_refused(self) -> None:
        """Pickling would write the key out; it must be an explicit export."""
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(Secret(RFC_KEY))

    def test_copy_is_identity(self) -> None:
        """Copies of an immutable value are the value itself."""
        secret = Secret(RFC_KEY)
        assert copy.copy(secret) is secret
        assert copy.deepcopy(secret) is secret

    def test_immutable(self) -> None:
        """Attributes cannot be set or deleted."""
        secret = Secret(RFC_KEY)
        with pytest.raises(AttributeError):
            secret._raw = b"x" * 20
        with pytest.raises(AttributeError):
            del secret._raw

    def test_unhashable(self) -> None:
        """A secret cannot become a dict key or set member."""
        with pytest.raises(TypeError, match="unhashable"):
            hash(Secret(RFC_KEY))


class TestEquality:
    """Secrets compare in constant time."""

    def test_equal_and_unequal(self) -> None:
        """Equal bytes are equal secrets; anything else is not."""
        assert Secret(RFC_KEY) == Secret(bytearray(RFC_KEY))
        assert Secret(RFC_KEY) != Secret(RFC_KEY[::-1])
        assert Secret(RFC_KEY) != RFC_KEY

    def test_uses_compare_digest(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Equality goes through hmac.compare_digest."""
        seen: list[tuple[bytes, bytes]] = []

        def recording(a: bytes, b: bytes) -> bool:
            seen.append((a, b))
            return a == b

        monkeypatch.setattr("totpcore.secret.hmac.compare_digest", recording)
        assert Secret(RFC_KEY) == Secret(RFC_KEY)
        assert seen == [(RFC_KEY, RFC_KEY)]
