"""Recovery codes: generation, normalisation, hashing, the parameter string and single-KDF matching."""

from __future__ import annotations

import base64
import hmac
import logging
import re
from collections import Counter

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from hypothesis import given
from hypothesis import strategies as st

from totpcore import ConfigurationError, InvalidCode, MalformedCode
from totpcore.recovery import (
    ALPHABET,
    DEFAULT_PARAMS,
    DIGEST_BYTES,
    SCHEME,
    SEALED_SCHEME,
    Argon2Params,
    CodeSetParams,
    HashedCodes,
    RecoveryMatch,
    check_stored,
    generate_codes,
    hash_codes,
    is_well_formed,
    match_code,
    needs_rehash,
    normalize,
)

#: The cheapest Argon2id the algorithm allows (RFC 9106: m >= 8p KiB): keeps the suite fast.
#: TestRealParameters runs the OWASP defaults.
CHEAP = Argon2Params(memory_kib=8, iterations=1, lanes=1)
USER = b"user-42"
OTHER_USER = b"user-43"
GROUPED = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


class CountingArgon2id:
    """Stands in for cryptography's Argon2id and records every evaluation."""

    derivations: list[bytes]

    def __init__(self, **kwargs: object) -> None:
        self._kdf = Argon2id(**kwargs)  # type: ignore[arg-type]

    def derive(self, key_material: bytes) -> bytes:
        """Record one evaluation, then run the real KDF."""
        CountingArgon2id.derivations.append(key_material)
        return self._kdf.derive(key_material)


@pytest.fixture
def kdf_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The inputs of every Argon2id evaluation made by totpcore.recovery during the test."""
    CountingArgon2id.derivations = []
    monkeypatch.setattr("totpcore.recovery.Argon2id", CountingArgon2id)
    return CountingArgon2id.derivations


def enrol(count: int = 5, context: bytes = USER) -> tuple[list[str], HashedCodes, list[tuple[int, bytes]]]:
    """Generate a set, hash it cheaply, and return the codes, the hashes and the unused pairs."""
    codes = generate_codes(count)
    hashed = hash_codes(codes, params=CHEAP, context=context)
    return codes, hashed, list(enumerate(hashed.digests))


def other_code(codes: list[str]) -> str:
    """A well-formed code that is not in *codes*."""
    while True:
        (candidate,) = generate_codes(1)
        if candidate not in codes:
            return candidate


class TestGenerate:
    """generate_codes: count, entropy, alphabet and shape (RC-1, RC-3)."""

    def test_default_shape(self) -> None:
        """Five codes of 80 bits, shown as XXXX-XXXX-XXXX-XXXX in Crockford base32."""
        codes = generate_codes()
        assert len(codes) == 5
        assert all(GROUPED.fullmatch(code) for code in codes)

    def test_every_symbol_occurs_at_every_position(self) -> None:
        """Over 2000 codes, all 32 symbols appear at all 16 positions (cf. devise-two-factor's 0-8 bug)."""
        bodies = [code.replace("-", "") for _ in range(100) for code in generate_codes(20)]
        for position in range(16):
            assert set(Counter(body[position] for body in bodies)) == set(ALPHABET)

    def test_alphabet_is_crockford(self) -> None:
        """32 symbols: digits and letters without I, L, O, U."""
        assert len(set(ALPHABET)) == 32
        assert not set("ILOU") & set(ALPHABET)

    def test_codes_come_from_the_secrets_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each code is one secrets.randbits draw of 5 bits per character (NIST SP 800-63B §5.1.2.1)."""
        ascending = sum(value << (5 * (15 - value)) for value in range(16))  # 0, 1, ..., 15 in 5-bit groups
        draws = iter([0, (1 << 80) - 1, ascending])
        requested: list[int] = []

        def randbits(k: int) -> int:
            requested.append(k)
            return next(draws)

        monkeypatch.setattr("totpcore.recovery.secrets.randbits", randbits)
        assert generate_codes(3) == ["0000-0000-0000-0000", "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "0123-4567-89AB-CDEF"]
        assert requested == [80, 80, 80]

    def test_a_repeated_draw_is_replaced(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Codes of a set are distinct, so a match is never ambiguous."""
        draws = iter([7, 7, 7, 8])
        monkeypatch.setattr("totpcore.recovery.secrets.randbits", lambda k: next(draws))
        assert generate_codes(2) == ["0000-0000-0000-0007", "0000-0000-0000-0008"]

    @pytest.mark.parametrize(
        ("bits", "shape"),
        [
            (64, "XXXX-XXXX-XXXX-X"),
            (80, "XXXX-XXXX-XXXX-XXXX"),
            (128, "XXXX-" * 6 + "XX"),
            (160, "XXXX-" * 7 + "XXXX"),
        ],
    )
    def test_bits_round_up_to_whole_characters(self, bits: int, shape: str) -> None:
        """5 bits per character, rounded up: 64 bits is 13 characters, 128 bits is 26."""
        (code,) = generate_codes(1, bits)
        assert re.sub("[^-]", "X", code) == shape

    @pytest.mark.parametrize("count", [1, 20])
    def test_count_limits(self, count: int) -> None:
        """1 to 20 codes, all distinct."""
        assert len(set(generate_codes(count))) == count

    @pytest.mark.parametrize("count", [0, -1, 21])
    def test_count_out_of_range(self, count: int) -> None:
        """Counts outside 1 to 20 are refused."""
        with pytest.raises(ConfigurationError, match="count"):
            generate_codes(count)

    @pytest.mark.parametrize("bits", [0, 20, 63])
    def test_fewer_than_64_bits_refused(self, bits: int) -> None:
        """NIST SP 800-63B-4 §4.2.1.1: at least 64 bits."""
        with pytest.raises(ConfigurationError, match="at least 64 bits"):
            generate_codes(bits=bits)

    def test_more_than_160_bits_refused(self) -> None:
        """160 bits is the upper bound."""
        with pytest.raises(ConfigurationError, match="bits"):
            generate_codes(bits=161)

    @pytest.mark.parametrize(("count", "bits"), [(5.0, 80), (True, 80), (5, 80.0), (5, "80")])
    def test_wrong_types(self, count: object, bits: object) -> None:
        """Count and bits are ints."""
        with pytest.raises(TypeError):
            generate_codes(count, bits)  # type: ignore[arg-type]


class TestNormalize:
    """normalize: case, separators and Crockford aliases forgiven; nothing else."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0123-4567-89AB-CDEF", "0123456789ABCDEF"),
            ("0123456789ABCDEF", "0123456789ABCDEF"),
            ("0123 4567 89ab cdef", "0123456789ABCDEF"),
            ("  0123--4567 - 89Ab-cDeF  ", "0123456789ABCDEF"),
            ("O1Z3-4567-89AB-CDEF", "01Z3456789ABCDEF"),
            ("o123-4567-89AB-CDEF", "0123456789ABCDEF"),
            ("0I23-4567-89AB-CDEF", "0123456789ABCDEF"),
            ("0i23-4567-89AB-CDEF", "0123456789ABCDEF"),
            ("0L23-4567-89AB-CDEF", "0123456789ABCDEF"),
            ("0l23-4567-89AB-CDEF", "0123456789ABCDEF"),
            ("GHJK-MNPQ-RSTV-WXYZ", "GHJKMNPQRSTVWXYZ"),
        ],
    )
    def test_normalisation_table(self, text: str, expected: str) -> None:
        """Upper case, spaces and hyphens dropped, O -> 0, I and L -> 1."""
        assert normalize(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "0123-4567-89AB-CDEU",  # U is not in Crockford base32 and has no alias
            "0123-4567-89AB-CDE*",
            "0123_4567_89AB_CDEF",
            "0123.4567.89AB.CDEF",
            "0123\t4567\t89AB\tCDEF",
            "0123\n4567-89AB-CDEF",
            "0123\u20134567-89AB-CDEF",  # en dash
            "0123\u00a04567-89AB-CDEF",  # no-break space
            "\uff10123-4567-89AB-CDEF",  # full-width zero
            "0123-4567-89AB-CDE\u0131",  # dotless i: upper() would make it I, hence 1
            "0123-4567-89AB-CDE\u017f",  # long s: upper() would make it S
            "0123-4567-89AB-CDEF\x00",
        ],
    )
    def test_other_characters_refused(self, text: str) -> None:
        """Any other character is malformed, including Unicode look-alikes."""
        with pytest.raises(MalformedCode):
            normalize(text)

    @pytest.mark.parametrize(
        "text", ["", "   ", "----", "0123-4567-89AB-CDE", "0123-4567-89AB-CDEF-0", "0" * 200]
    )
    def test_wrong_length_refused(self, text: str) -> None:
        """16 characters for 80 bits; separators do not count."""
        with pytest.raises(MalformedCode):
            normalize(text)

    @pytest.mark.parametrize("text", [None, 1234, b"0123456789ABCDEF", ["0123456789ABCDEF"]])
    def test_non_text_is_malformed(self, text: object) -> None:
        """What is not a str is not a code (as parse_code for app codes)."""
        with pytest.raises(MalformedCode, match="str"):
            normalize(text)  # type: ignore[arg-type]

    def test_length_follows_bits(self) -> None:
        """A 64-bit code has 13 characters; a 16-character code is then the wrong length."""
        assert normalize("ABCD-EFGH-JKMN-P", bits=64) == "ABCDEFGHJKMNP"
        with pytest.raises(MalformedCode, match="13 characters"):
            normalize("ABCD-EFGH-JKMN-PQRS", bits=64)

    def test_messages_do_not_repeat_the_input(self) -> None:
        """A typo'd recovery code is still nearly a recovery code: never echo it."""
        for text in ["0123-4567-89AB-CDEU", "0123-4567-89AB-CDE", "ZZZZ-ZZZZ-ZZZZ-ZZZZZ"]:
            with pytest.raises(MalformedCode) as caught:
                normalize(text)
            assert text[:8] not in str(caught.value)
            assert text.replace("-", "")[:8] not in str(caught.value)

    @given(
        body=st.text(alphabet=ALPHABET, min_size=16, max_size=16),
        data=st.data(),
    )
    def test_decorated_codes_normalise_back(self, body: str, data: st.DataObject) -> None:
        """Any mix of case, aliases and separators normalises to the canonical code."""
        typed = []
        for char in body:
            variants = {"0": "0Oo", "1": "1IiLl"}.get(char, char + char.lower())
            typed.append(data.draw(st.sampled_from(variants)))
            typed.append(data.draw(st.sampled_from(["", "", " ", "-"])))
        assert normalize("".join(typed)) == body

    @given(st.text(max_size=40))
    def test_anything_is_refused_or_canonical(self, text: str) -> None:
        """Arbitrary text is either malformed or becomes 16 Crockford characters."""
        try:
            body = normalize(text)
        except MalformedCode:
            return
        assert len(body) == 16
        assert set(body) <= set(ALPHABET)


class TestArgon2Params:
    """The Argon2id cost parameters and their limits."""

    def test_defaults_are_owasp(self) -> None:
        """OWASP Password Storage Cheat Sheet minimum: m=19456 KiB, t=2, p=1."""
        assert DEFAULT_PARAMS == Argon2Params() == Argon2Params(memory_kib=19456, iterations=2, lanes=1)

    @pytest.mark.parametrize(
        ("memory", "iterations"), [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]
    )
    def test_owasp_equivalents_accepted(self, memory: int, iterations: int) -> None:
        """The cheat sheet's equivalent settings are all valid."""
        assert Argon2Params(memory, iterations).memory_kib == memory

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"memory_kib": 7},
            {"memory_kib": 31, "lanes": 4},
            {"memory_kib": (1 << 20) + 1},
            {"iterations": 0},
            {"iterations": 33},
            {"lanes": 0},
            {"lanes": 17},
        ],
    )
    def test_out_of_range(self, kwargs: dict[str, int]) -> None:
        """RFC 9106 §3.1 requires m >= 8p; totpcore caps the costs a login can ask for."""
        with pytest.raises(ConfigurationError):
            Argon2Params(**kwargs)

    @pytest.mark.parametrize("kwargs", [{"memory_kib": 19456.0}, {"iterations": True}, {"lanes": "1"}])
    def test_wrong_types(self, kwargs: dict[str, object]) -> None:
        """Ints only."""
        with pytest.raises(TypeError):
            Argon2Params(**kwargs)  # type: ignore[arg-type]


class TestHashing:
    """hash_codes: one salt per set, one digest per code, bound to the user."""

    def test_shape(self) -> None:
        """A parameter string plus one 32-byte digest per code, in code order."""
        codes, hashed, _ = enrol(5)
        assert hashed.params.startswith(f"${SCHEME}$v=19$m=8,t=1,p=1,c=16$")
        assert len(hashed.digests) == 5
        assert all(len(digest) == DIGEST_BYTES for digest in hashed.digests)
        assert len(set(hashed.digests)) == 5
        for index, code in enumerate(codes):
            assert (
                match_code(code, hashed.params, [(index, hashed.digests[index])], context=USER).index == index
            )

    def test_one_kdf_call_per_code(self, kdf_calls: list[bytes]) -> None:
        """Enrolment hashes each normalised code once."""
        codes = generate_codes(5)
        hash_codes(codes, params=CHEAP, context=USER)
        assert kdf_calls == [code.replace("-", "").encode() for code in codes]

    def test_grouped_and_compact_forms_hash_alike(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Codes are normalised before hashing."""
        monkeypatch.setattr("totpcore.recovery.secrets.token_bytes", bytes)
        grouped = hash_codes(["0123-4567-89AB-CDEF"], params=CHEAP, context=USER)
        compact = hash_codes(["o123456789abcdef"], params=CHEAP, context=USER)
        assert grouped == compact

    def test_known_answer(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The construction, pinned: Argon2id(code ASCII, set salt, ad = label + context, 32 bytes)."""
        monkeypatch.setattr("totpcore.recovery.secrets.token_bytes", lambda n: bytes(range(n)))
        hashed = hash_codes(["0123-4567-89AB-CDEF"], params=CHEAP, context=USER)
        assert hashed.params == f"${SCHEME}$v=19$m=8,t=1,p=1,c=16$AAECAwQFBgcICQoLDA0ODw"
        independent = Argon2id(
            salt=bytes(range(16)),
            length=32,
            iterations=1,
            lanes=1,
            memory_cost=8,
            ad=b"totpcore recovery code v1\x00" + USER,
        ).derive(b"0123456789ABCDEF")
        assert hashed.digests == (independent,)
        assert independent.hex() == "f1d073fa6e31d203549fff4c2d065ef1becc50e472c7c4776c7ca7184705fc65"

    def test_sealed_sets_name_the_sealed_scheme(self) -> None:
        """hash_codes(sealed=True) records SEALED_SCHEME; a set is unsealed (SCHEME) unless asked."""
        codes = generate_codes(1)
        assert hash_codes(codes, params=CHEAP, context=USER, sealed=True).params.startswith(
            f"${SEALED_SCHEME}$"
        )
        assert hash_codes(codes, params=CHEAP, context=USER).params.startswith(f"${SCHEME}$")

    def test_each_set_gets_a_new_salt(self) -> None:
        """Hashing the same codes twice gives different salts and digests (NIST SP 800-63B §5.1.2.2)."""
        codes = generate_codes()
        first = hash_codes(codes, params=CHEAP, context=USER)
        second = hash_codes(codes, params=CHEAP, context=USER)
        assert CodeSetParams.parse(first.params).salt != CodeSetParams.parse(second.params).salt
        assert not set(first.digests) & set(second.digests)

    def test_salt_is_16_bytes_from_secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """128-bit salt from secrets.token_bytes (RFC 9106 §4; NIST asks for at least 32 bits)."""
        requested: list[int] = []

        def token_bytes(n: int) -> bytes:
            requested.append(n)
            return b"\x5a" * n

        monkeypatch.setattr("totpcore.recovery.secrets.token_bytes", token_bytes)
        hashed = hash_codes(generate_codes(), params=CHEAP, context=USER)
        assert requested == [16]
        assert CodeSetParams.parse(hashed.params).salt == b"\x5a" * 16

    def test_context_changes_every_digest(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The same codes and salt hash differently for another user."""
        monkeypatch.setattr("totpcore.recovery.secrets.token_bytes", bytes)
        codes = generate_codes()
        ours = hash_codes(codes, params=CHEAP, context=USER)
        theirs = hash_codes(codes, params=CHEAP, context=OTHER_USER)
        assert ours.params == theirs.params
        assert not set(ours.digests) & set(theirs.digests)

    def test_default_parameters_are_owasp(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without params, the OWASP defaults are written into the parameter string."""
        calls: list[dict[str, object]] = []

        class Recording:
            def __init__(self, **kwargs: object) -> None:
                calls.append(kwargs)

            def derive(self, _key_material: bytes) -> bytes:
                return bytes(32)

        monkeypatch.setattr("totpcore.recovery.Argon2id", Recording)
        hashed = hash_codes(generate_codes(1), context=USER)
        assert hashed.params.startswith(f"${SCHEME}$v=19$m=19456,t=2,p=1,c=16$")
        assert calls[0]["memory_cost"] == 19456
        assert calls[0]["iterations"] == 2
        assert calls[0]["lanes"] == 1
        assert calls[0]["length"] == 32

    @pytest.mark.parametrize(
        ("codes", "message"),
        [
            ([], "number of codes"),
            (["0123-4567-89AB-CDEF"] * 2, "repeats"),
            (["0123-4567-89AB-CDEF", "o123-4567-89ab-cdef"], "repeats"),
            (["0123-4567-89AB-CDEF", "0123-4567-89AB-CDE"], "same length"),
            (["0123-4567-89AB-CDEU"], "code 1 of the set"),
            (["0123-4567-89AB-CDEF", 1234], "code 2 of the set"),
            (["0123-4567-89AB"], "64 to 160-bit"),
            (["0" * 33], "64 to 160-bit"),
        ],
    )
    def test_bad_sets_refused(self, codes: list[str], message: str, kdf_calls: list[bytes]) -> None:
        """A set that generate_codes could not have produced is a programming error, found before hashing."""
        with pytest.raises(ConfigurationError, match=message):
            hash_codes(codes, params=CHEAP, context=USER)
        assert kdf_calls == []

    def test_more_than_20_codes_refused(self) -> None:
        """20 codes at most."""
        codes = [*generate_codes(20), other_code([])]
        with pytest.raises(ConfigurationError, match="number of codes"):
            hash_codes(codes, params=CHEAP, context=USER)

    @pytest.mark.parametrize("codes", ["0123-4567-89AB-CDEF", 1234, None])
    def test_codes_must_be_a_collection(self, codes: object) -> None:
        """A single str is not a list of codes."""
        with pytest.raises(TypeError, match="codes"):
            hash_codes(codes, params=CHEAP, context=USER)  # type: ignore[arg-type]

    def test_params_must_be_argon2params(self) -> None:
        """A dict of costs is not accepted."""
        with pytest.raises(TypeError, match="Argon2Params"):
            hash_codes(generate_codes(), params={"memory_kib": 8}, context=USER)  # type: ignore[arg-type]

    @pytest.mark.parametrize("context", ["user-42", bytearray(b"user-42"), None, 42])
    def test_context_must_be_bytes(self, context: object) -> None:
        """The context is bytes, for example user_id.encode()."""
        with pytest.raises(TypeError, match="context"):
            hash_codes(generate_codes(), params=CHEAP, context=context)  # type: ignore[arg-type]

    @pytest.mark.parametrize("context", [b"", b"x" * 1025])
    def test_context_length(self, context: bytes) -> None:
        """An empty context would bind nothing; 1 KiB is plenty for a user id."""
        with pytest.raises(ConfigurationError, match="context"):
            hash_codes(generate_codes(), params=CHEAP, context=context)


class TestParameterString:
    """The self-describing parameter string: round trip, exact form, tampering."""

    def test_exact_form(self) -> None:
        """PHC layout: scheme, Argon2 version, costs and code length, unpadded base64 salt."""
        shape = CodeSetParams(Argon2Params(), 16, bytes(range(16)))
        assert shape.encode() == "$totpcore-rc1-argon2id$v=19$m=19456,t=2,p=1,c=16$AAECAwQFBgcICQoLDA0ODw"
        assert CodeSetParams.parse(shape.encode()) == shape

    def test_sealed_scheme(self) -> None:
        """sealed=True is written and read back as the scheme totpcore-rc2-argon2id; rc1 reads as unsealed."""
        shape = CodeSetParams(Argon2Params(), 16, bytes(range(16)), sealed=True)
        assert shape.encode() == "$totpcore-rc2-argon2id$v=19$m=19456,t=2,p=1,c=16$AAECAwQFBgcICQoLDA0ODw"
        assert CodeSetParams.parse(shape.encode()) == shape
        assert CodeSetParams.parse(self.VALID).sealed is False

    @given(
        memory=st.integers(min_value=64, max_value=1 << 20),
        iterations=st.integers(min_value=1, max_value=32),
        lanes=st.integers(min_value=1, max_value=8),
        length=st.integers(min_value=13, max_value=32),
        salt=st.binary(min_size=16, max_size=64),
    )
    def test_round_trip(self, memory: int, iterations: int, lanes: int, length: int, salt: bytes) -> None:
        """parse(encode(x)) == x for every valid set of parameters."""
        shape = CodeSetParams(Argon2Params(memory, iterations, lanes), length, salt)
        assert CodeSetParams.parse(shape.encode()) == shape

    def test_hash_codes_output_parses(self) -> None:
        """What hash_codes stores is what parse reads."""
        _, hashed, _ = enrol()
        shape = CodeSetParams.parse(hashed.params)
        assert shape.argon2 == CHEAP
        assert shape.length == 16
        assert len(shape.salt) == 16

    VALID = "$totpcore-rc1-argon2id$v=19$m=19456,t=2,p=1,c=16$AAECAwQFBgcICQoLDA0ODw"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "not a recovery-code parameter string"),
            (
                "$argon2id$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw",
                "unknown recovery-code scheme 'argon2id'",
            ),
            (
                "$argon2id$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$" + "A" * 43,
                "not a recovery-code parameter",
            ),
            (VALID + "$", "not a recovery-code parameter string"),
            (VALID[1:], "not a recovery-code parameter string"),
            (VALID + "A" * 200, "not a recovery-code parameter string"),
            (VALID.replace("rc1", "rc3"), "unknown recovery-code scheme 'totpcore-rc3-argon2id'"),
            (VALID.replace("argon2id", "argon2i"), "unknown recovery-code scheme"),
            (VALID.replace("v=19", "v=16"), "unsupported Argon2 version"),
            (VALID.replace("v=19", "v=019"), "unsupported Argon2 version"),
            (VALID.replace("m=19456,t=2,p=1,c=16", "t=2,m=19456,p=1,c=16"), "malformed costs"),
            (VALID.replace("m=19456", "m=019456"), "malformed costs"),
            (VALID.replace("m=19456", "m=+19456"), "malformed costs"),
            (VALID.replace("m=19456", "m=\uff11\uff19456"), "malformed costs"),
            (VALID.replace("m=19456", "m=99999999999"), "malformed costs"),
            (VALID.replace(",c=16", ""), "malformed costs"),
            (VALID.replace("c=16", "c=16,x=1"), "malformed costs"),
            (VALID.replace("m=19456", "m=4194304"), "memory_kib"),
            (VALID.replace("m=19456", "m=7"), "memory_kib"),
            (VALID.replace("t=2", "t=0"), "iterations"),
            (VALID.replace("p=1", "p=0"), "lanes"),
            (VALID.replace("c=16", "c=12"), "length"),
            (VALID.replace("c=16", "c=33"), "length"),
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0ODw=="), "canonical"),
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0ODx"), "canonical"),
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0OD"), "canonical"),
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoL-A0ODw"), "canonical"),
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", ""), "canonical"),
            # Not ASCII: b64decode itself would raise a bare ValueError.
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0OD\u00e9"), "canonical"),
            (VALID.replace("AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0O"), "salt is 15 bytes"),
        ],
    )
    def test_tampered_or_unknown_strings(self, text: str, message: str) -> None:
        """Anything but the exact form encode() writes is a ConfigurationError naming the problem."""
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            CodeSetParams.parse(text)

    @pytest.mark.parametrize("text", [None, b"$totpcore-rc1-argon2id$", 19456])
    def test_must_be_text(self, text: object) -> None:
        """The parameter string is a str."""
        with pytest.raises(TypeError, match="parameter string"):
            CodeSetParams.parse(text)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"argon2": {"memory_kib": 8}}, TypeError),
            ({"length": 16.0}, TypeError),
            ({"salt": bytearray(16)}, TypeError),
            ({"salt": bytes(65)}, ConfigurationError),
        ],
    )
    def test_fields_checked_at_construction(self, kwargs: dict[str, object], error: type[Exception]) -> None:
        """CodeSetParams checks its own fields."""
        fields: dict[str, object] = {"argon2": CHEAP, "length": 16, "salt": bytes(16)} | kwargs
        with pytest.raises(error):
            CodeSetParams(**fields)  # type: ignore[arg-type]


class TestCheapChecks:
    """check_stored and is_well_formed: what a caller checks before it counts an attempt or spends a KDF."""

    def test_check_stored_returns_the_parameters(self, kdf_calls: list[bytes]) -> None:
        """A readable set gives its CodeSetParams, without any Argon2id evaluation."""
        _, hashed, unused = enrol(3)
        kdf_calls.clear()
        assert check_stored(hashed.params, unused) == CodeSetParams.parse(hashed.params)
        assert kdf_calls == []

    @pytest.mark.parametrize(
        ("params", "unused", "error", "message"),
        [
            ("$argon2id$v=19$m=19456,t=2,p=1$AAAA", [], ConfigurationError, "unknown recovery-code scheme"),
            (None, [], TypeError, "parameter string"),
            (
                TestParameterString.VALID,
                [(0, bytes(32)), (0, bytes(32))],
                ConfigurationError,
                "appears twice",
            ),
            (TestParameterString.VALID, [(0, bytes(31))], ConfigurationError, "31 bytes"),
            (TestParameterString.VALID, None, TypeError, "unused"),
        ],
    )
    def test_check_stored_refuses_what_match_code_refuses(
        self, params: object, unused: object, error: type[Exception], message: str
    ) -> None:
        """An unreadable parameter string or stored pair raises as match_code would."""
        with pytest.raises(error, match=message):
            check_stored(params, unused)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ABCD-EFGH-JKMN-PQRS", True),
            ("abcd efgh jkmn pqrs", True),
            ("O123456789ABC", True),  # 13 characters: 64 bits, the fewest
            ("0" * 32, True),  # 160 bits, the most
            ("0123456789AB", False),
            ("0" * 33, False),
            ("", False),
            ("ABCD-EFGH-JKMN-PQRU", False),
            ("ABCD-EFGH-JKMN-PQR\u0405", False),  # Cyrillic DZE, which looks like S
            (None, False),
            (b"ABCD-EFGH-JKMN-PQRS", False),
            (1234567890123, False),
        ],
    )
    def test_is_well_formed(self, text: object, expected: bool) -> None:
        """A code of any allowed length, in any spelling normalize() reads, is well formed; nothing else."""
        assert is_well_formed(text) is expected


class TestNeedsRehash:
    """needs_rehash: stored costs weaker than the current ones."""

    @staticmethod
    def stored(memory: int, iterations: int, lanes: int = 1) -> str:
        """A parameter string with the given costs."""
        return CodeSetParams(Argon2Params(memory, iterations, lanes), 16, bytes(16)).encode()

    def test_current_parameters(self) -> None:
        """A set hashed with the current parameters is fine."""
        assert needs_rehash(self.stored(19456, 2)) is False
        assert needs_rehash(self.stored(19456, 2), DEFAULT_PARAMS) is False

    @pytest.mark.parametrize(("memory", "iterations"), [(9216, 2), (19456, 1), (8, 1), (47104, 1)])
    def test_weaker(self, memory: int, iterations: int) -> None:
        """Less memory or fewer iterations than the current parameters."""
        assert needs_rehash(self.stored(memory, iterations)) is True

    @pytest.mark.parametrize(("memory", "iterations", "lanes"), [(65536, 3, 1), (19456, 2, 4), (19456, 3, 1)])
    def test_not_weaker(self, memory: int, iterations: int, lanes: int) -> None:
        """More memory or iterations, or another lane count, is not weaker."""
        assert needs_rehash(self.stored(memory, iterations, lanes)) is False

    def test_against_stronger_current_parameters(self) -> None:
        """Raising the current parameters flags the sets made before."""
        assert needs_rehash(self.stored(19456, 2), Argon2Params(65536, 3)) is True

    def test_unreadable_string(self) -> None:
        """A tampered string raises rather than answering."""
        with pytest.raises(ConfigurationError):
            needs_rehash("$argon2id$v=19$m=19456,t=2,p=1$AAAA")

    def test_current_must_be_argon2params(self) -> None:
        """The current parameters are an Argon2Params."""
        with pytest.raises(TypeError, match="current"):
            needs_rehash(self.stored(19456, 2), {"memory_kib": 19456})  # type: ignore[arg-type]


class TestMatch:
    """match_code: the matched index, one KDF per attempt, constant-time comparison."""

    def test_every_code_matches_its_index(self) -> None:
        """Each code of the set returns its own position and digest."""
        codes, hashed, unused = enrol(5)
        for index, code in enumerate(codes):
            assert match_code(code, hashed.params, unused, context=USER) == RecoveryMatch(
                index, hashed.digests[index]
            )

    def test_typed_forms_match(self) -> None:
        """Lower case, spaces and aliases are accepted as the same code."""
        codes, hashed, unused = enrol(3)
        typed = codes[1].lower().replace("-", " ").replace("0", "o").replace("1", "l")
        assert match_code(typed, hashed.params, unused, context=USER).index == 1

    def test_wrong_code(self) -> None:
        """A well-formed code outside the set is InvalidCode."""
        codes, hashed, unused = enrol(5)
        with pytest.raises(InvalidCode, match="matches no unused code"):
            match_code(other_code(codes), hashed.params, unused, context=USER)

    def test_used_code_no_longer_matches(self) -> None:
        """Once the store has deleted a pair, its code is refused (RC-2)."""
        codes, hashed, unused = enrol(5)
        used = match_code(codes[2], hashed.params, unused, context=USER)
        remaining = [pair for pair in unused if pair != (used.index, used.digest)]
        with pytest.raises(InvalidCode):
            match_code(codes[2], hashed.params, remaining, context=USER)
        assert match_code(codes[3], hashed.params, remaining, context=USER).index == 3

    def test_no_codes_left(self, kdf_calls: list[bytes]) -> None:
        """With nothing unused, a code is InvalidCode, after the same single KDF evaluation."""
        codes, hashed, _ = enrol(5)
        kdf_calls.clear()
        with pytest.raises(InvalidCode):
            match_code(codes[0], hashed.params, [], context=USER)
        assert len(kdf_calls) == 1

    def test_order_of_pairs_does_not_matter(self) -> None:
        """The store may return the unused pairs in any order; lists work as pairs."""
        codes, hashed, unused = enrol(5)
        shuffled = [list(pair) for pair in reversed(unused)]
        assert match_code(codes[4], hashed.params, shuffled, context=USER).index == 4  # type: ignore[arg-type]

    def test_lowest_index_wins_if_two_digests_match(self) -> None:
        """Only reachable with a corrupted store, but deterministic: the lowest index."""
        codes, hashed, _ = enrol(2)
        pairs = [(7, hashed.digests[0]), (3, hashed.digests[0])]
        assert match_code(codes[0], hashed.params, pairs, context=USER).index == 3


class TestContextBinding:
    """Digests are bound to their user: copying rows between users gains nothing."""

    def test_another_users_context_fails(self) -> None:
        """The right code with another user's context does not match."""
        codes, hashed, unused = enrol(5, context=USER)
        with pytest.raises(InvalidCode):
            match_code(codes[0], hashed.params, unused, context=OTHER_USER)

    def test_digest_copied_into_another_users_row_fails(self) -> None:
        """An attacker's own params and digests, copied into a victim's row, do not log in as the victim."""
        attacker_codes, attacker_row, attacker_unused = enrol(5, context=b"attacker")
        with pytest.raises(InvalidCode):
            match_code(attacker_codes[0], attacker_row.params, attacker_unused, context=b"victim")

    def test_digest_mixed_into_another_set_fails(self) -> None:
        """One user's digest added to another user's unused pairs does not match for the other user."""
        codes_a, hashed_a, _ = enrol(1, context=USER)
        _, hashed_b, unused_b = enrol(5, context=OTHER_USER)
        with pytest.raises(InvalidCode):
            match_code(codes_a[0], hashed_b.params, [*unused_b, (5, hashed_a.digests[0])], context=OTHER_USER)


class TestKdfCost:
    """One Argon2id evaluation per attempt, none for malformed input (RC-4, docs/security.md)."""

    @pytest.mark.parametrize("count", [1, 5, 20])
    def test_one_kdf_call_per_attempt_whatever_the_count(self, count: int, kdf_calls: list[bytes]) -> None:
        """A matching and a non-matching attempt each cost exactly one evaluation."""
        codes, hashed, unused = enrol(count)
        kdf_calls.clear()
        assert match_code(codes[-1], hashed.params, unused, context=USER).index == count - 1
        assert len(kdf_calls) == 1
        with pytest.raises(InvalidCode):
            match_code(other_code(codes), hashed.params, unused, context=USER)
        assert len(kdf_calls) == 2

    @pytest.mark.parametrize(
        "text",
        [
            "0123-4567-89AB-CDE",
            "0123-4567-89AB-CDEF0",
            "0123-4567-89AB-CDEU",
            "0123-4567-89AB-CD\u00c9F",
            "",
            None,
        ],
    )
    def test_malformed_input_costs_no_kdf_call(self, text: str, kdf_calls: list[bytes]) -> None:
        """Wrong length or alphabet is refused before any hashing."""
        _, hashed, unused = enrol(5)
        kdf_calls.clear()
        with pytest.raises(MalformedCode):
            match_code(text, hashed.params, unused, context=USER)
        assert kdf_calls == []

    def test_length_comes_from_the_parameter_string(self, kdf_calls: list[bytes]) -> None:
        """A 16-character input against a 64-bit set (13 characters) is malformed, without hashing."""
        hashed = hash_codes(generate_codes(5, bits=64), params=CHEAP, context=USER)
        kdf_calls.clear()
        with pytest.raises(MalformedCode, match="13 characters"):
            match_code("0123-4567-89AB-CDEF", hashed.params, list(enumerate(hashed.digests)), context=USER)
        assert kdf_calls == []

    def test_every_digest_is_compared(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """hmac.compare_digest runs against all unused digests, even when the first one matches."""
        codes, hashed, unused = enrol(5)
        compared: list[bytes] = []
        real = hmac.compare_digest

        def recording(a: bytes, b: bytes) -> bool:
            compared.append(b)
            return real(a, b)

        monkeypatch.setattr("totpcore.recovery.hmac.compare_digest", recording)
        assert match_code(codes[0], hashed.params, unused, context=USER).index == 0
        assert compared == list(hashed.digests)

    @pytest.mark.parametrize(
        ("unused", "error", "message"),
        [
            ([(0, bytes(31))], ConfigurationError, "31 bytes"),
            ([(0, bytes(32)), (0, bytes(32))], ConfigurationError, "appears twice"),
            ([(20, bytes(32))], ConfigurationError, "stored index"),
            ([(-1, bytes(32))], ConfigurationError, "stored index"),
            ([("0", bytes(32))], TypeError, "stored index"),
            ([(0, bytearray(32))], TypeError, "stored digest"),
            ([(0, "digest")], TypeError, "stored digest"),
            ([(0, bytes(32), "extra")], TypeError, "pair"),
            ([None], TypeError, "pair"),
            (None, TypeError, "unused"),
            (b"\x00" * 32, TypeError, "unused"),
        ],
    )
    def test_malformed_stored_pairs(
        self, unused: object, error: type[Exception], message: str, kdf_calls: list[bytes]
    ) -> None:
        """Corrupted stored pairs are refused before hashing."""
        codes, hashed, _ = enrol(1)
        kdf_calls.clear()
        with pytest.raises(error, match=message):
            match_code(codes[0], hashed.params, unused, context=USER)  # type: ignore[arg-type]
        assert kdf_calls == []

    @pytest.mark.parametrize(
        ("params", "error"),
        [("$argon2id$v=19$m=19456,t=2,p=1$AAAA", ConfigurationError), (None, TypeError)],
    )
    def test_unreadable_parameter_string(
        self, params: object, error: type[Exception], kdf_calls: list[bytes]
    ) -> None:
        """A tampered or unknown parameter string is refused before hashing."""
        codes, _, unused = enrol(1)
        kdf_calls.clear()
        with pytest.raises(error):
            match_code(codes[0], params, unused, context=USER)  # type: ignore[arg-type]
        assert kdf_calls == []

    @pytest.mark.parametrize(("context", "error"), [("user-42", TypeError), (b"", ConfigurationError)])
    def test_bad_context(self, context: object, error: type[Exception], kdf_calls: list[bytes]) -> None:
        """The context is checked before hashing too."""
        codes, hashed, unused = enrol(1)
        kdf_calls.clear()
        with pytest.raises(error, match="context"):
            match_code(codes[0], hashed.params, unused, context=context)  # type: ignore[arg-type]
        assert kdf_calls == []


class TestRealParameters:
    """The OWASP defaults, end to end (about 30 ms per Argon2id evaluation)."""

    def test_enrol_and_match_with_defaults(self) -> None:
        """Default parameters: the right code matches, a wrong one does not."""
        codes = generate_codes(2)
        hashed = hash_codes(codes, context=USER)
        assert hashed.params.startswith(f"${SCHEME}$v=19$m=19456,t=2,p=1,c=16$")
        unused = list(enumerate(hashed.digests))
        assert match_code(codes[1], hashed.params, unused, context=USER).index == 1
        with pytest.raises(InvalidCode):
            match_code(codes[1], hashed.params, unused, context=OTHER_USER)
        assert needs_rehash(hashed.params) is False


class TestNoPlaintext:
    """No plaintext recovery code in stored forms, reprs, messages or logs (RC-8)."""

    def test_stored_form_has_no_plaintext(self) -> None:
        """Neither the parameter string nor any digest contains a code, in any encoding."""
        codes, hashed, _ = enrol(5)
        for code in codes:
            body = code.replace("-", "")
            assert body not in hashed.params
            assert code not in hashed.params
            for digest in hashed.digests:
                assert body.encode() not in digest
                assert body not in base64.b64encode(digest).decode()

    def test_reprs_have_no_plaintext(self) -> None:
        """HashedCodes, RecoveryMatch and CodeSetParams show no code."""
        codes, hashed, unused = enrol(5)
        match = match_code(codes[0], hashed.params, unused, context=USER)
        shown = repr(hashed) + str(hashed) + repr(match) + repr(CodeSetParams.parse(hashed.params))
        assert "digests=<5 x 32 bytes>" in repr(hashed)
        assert repr(match) == "RecoveryMatch(index=0)"
        for code in codes:
            assert code[:4] + code[5:9] not in shown.replace("-", "")

    def test_messages_have_no_plaintext(self) -> None:
        """Errors about a set being hashed never repeat its codes."""
        codes = generate_codes(2)
        with pytest.raises(ConfigurationError) as caught:
            hash_codes([codes[0], codes[0]], params=CHEAP, context=USER)
        assert codes[0][:4] not in str(caught.value)
        with pytest.raises(ConfigurationError) as caught:
            hash_codes([codes[0], codes[1] + "U"], params=CHEAP, context=USER)
        assert codes[1][:4] not in str(caught.value)

    def test_nothing_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """The module is pure: no log records at any level."""
        caplog.set_level(logging.DEBUG)
        codes, hashed, unused = enrol(3)
        match_code(codes[0], hashed.params, unused, context=USER)
        with pytest.raises(InvalidCode):
            match_code(other_code(codes), hashed.params, unused, context=USER)
        with pytest.raises(MalformedCode):
            match_code("nope", hashed.params, unused, context=USER)
        assert caplog.records == []
