"""Edges of the pure layers: range ends, defaults, the 64-bit limit, stored formats.

Each test pins a boundary that an off-by-one in the code would move (the mutation run of
``make mutation`` asked for every one of them, docs/conformance.md "Mutation testing").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from totpcore import HOTP, TOTP, Algorithm, InvalidCode, Secret, Throttle, Window, build_uri, hotp, parse_uri
from totpcore.recovery import Argon2Params, CodeSetParams, generate_codes, hash_codes, match_code, normalize
from totpcore.sealing import KeyRing
from totpcore.uri import MAX_URI_LENGTH

SECRET = Secret(b"12345678901234567890")  # RFC 4226 Appendix D
SEED_32 = Secret(b"12345678901234567890123456789012")  # RFC 6238 Appendix B, SHA256
LOW_COST = Argon2Params(8, 1, 1)


class TestRangesIncludeTheirEnds:
    """The lowest and highest accepted value of each setting is accepted."""

    def test_totp_period_and_t0(self) -> None:
        """Period 1 and 120, t0 0; a bad t0 is reported as t0 even when the period is at its end."""
        assert (TOTP(SECRET, period=1).period, TOTP(SECRET, period=120).period) == (1, 120)
        with pytest.raises(ValueError, match=r"^t0=-1 is out of range"):
            TOTP(SECRET, period=1, t0=-1)
        with pytest.raises(ValueError, match=r"^t0=-1 is out of range"):
            TOTP(SECRET, period=120, t0=-1)

    def test_window_lifetime(self) -> None:
        """lifetime() takes periods 1 to 120 and defaults to 30 s: (1, 1) is 90 s."""
        window = Window(1, 1)
        assert (window.lifetime(), window.lifetime(1), window.lifetime(120)) == (90, 3, 360)

    def test_secret_sizes(self) -> None:
        """Secrets of 1024 bytes are accepted; generate() makes 16 to 1024 bytes."""
        assert len(bytes(Secret(bytes(1024)))) == 1024
        assert [len(bytes(Secret.generate(n))) for n in (16, 1024)] == [16, 1024]

    def test_throttle_settings(self) -> None:
        """Lockout 1 with no free attempt; free attempts up to lockout - 1; delays equal; growth 10."""
        assert Throttle(free_attempts=0, lockout=1).locks_at(1)
        assert Throttle(free_attempts=9, lockout=10).delay_after(10) == 2.0
        assert Throttle(base_delay=0.5).delay_after(4) == 0.5
        assert Throttle(base_delay=86_400, max_delay=86_400).delay_after(9) == 86_400
        assert Throttle(growth=10).delay_after(5) == 20.0

    def test_hotp_look_ahead(self) -> None:
        """verify() looks at the counter only by default; resync() accepts look_ahead 0."""
        with pytest.raises(InvalidCode):
            HOTP(SECRET).verify("287082", 0)  # the code of counter 1
        assert HOTP(SECRET).verify("287082", 0, look_ahead=1) == 1
        assert HOTP(SECRET).resync(["755224", "287082"], 0, look_ahead=0) == 1

    def test_hotp_resync_default_look_ahead(self) -> None:
        """resync() finds a run starting up to 100 counters ahead by default, not 101."""
        otp = HOTP(SECRET)
        assert otp.resync([otp.at(100), otp.at(101)], 0) == 101
        with pytest.raises(InvalidCode):
            otp.resync([otp.at(101), otp.at(102)], 0)

    def test_totp_resync_search(self) -> None:
        """Search 1 is accepted; the last code may be exactly search steps behind now."""
        otp = TOTP(SECRET)
        now = 3000  # step 100
        assert otp.resync([otp.at(now - 30), otp.at(now)], at=now, search=1).step == 100
        behind = [otp.at(now - 4 * 30), otp.at(now - 3 * 30)]  # steps 96 and 97
        assert otp.resync(behind, at=now, search=3).step == 97
        with pytest.raises(InvalidCode):
            otp.resync(behind, at=now, search=2)

    def test_recovery_bounds(self) -> None:
        """160-bit codes hash; contexts of 1 and 1024 bytes bind; typed input may be 128 characters."""
        codes = generate_codes(1, bits=160)
        assert len(normalize(codes[0], bits=160)) == 32
        hashed = hash_codes(codes, params=LOW_COST, context=b"u")
        assert match_code(codes[0], hashed.params, list(enumerate(hashed.digests)), context=b"u").index == 0
        wide = hash_codes(["ABCD-EFGH-JKMN-PQRS"], params=LOW_COST, context=bytes(1024))
        assert (
            match_code("ABCDEFGHJKMNPQRS", wide.params, [(0, wide.digests[0])], context=bytes(1024)).index
            == 0
        )
        padded = "ABCD-EFGH-JKMN-PQRS".ljust(128, "-")
        assert normalize(padded) == normalize("ABCD-EFGH-JKMN-PQRS")


class TestTime:
    """Steps of float and datetime times, the clock default, and the 64-bit step limit."""

    def test_float_time_at_t0(self) -> None:
        """A float time equal to t0 is step 0, and steps count from t0."""
        otp = TOTP(SECRET, t0=100)
        assert (
            otp.step_at(100.0),
            otp.step_at(130.0),
            otp.step_at(dt.datetime.fromtimestamp(159.9, dt.timezone.utc)),
        ) == (0, 1, 1)

    def test_resync_uses_the_clock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without at=, resync() reads this machine's clock."""
        monkeypatch.setattr(time, "time", lambda: 89.0)  # step 2
        otp = TOTP(SECRET)
        assert otp.resync([otp.at(30), otp.at(60)]).step == 2

    def test_search_stops_at_the_last_step(self) -> None:
        """Near 2**64 the resync search ends at the last step instead of overflowing."""
        with pytest.raises(InvalidCode):
            TOTP(SECRET, period=1).resync(["000000", "000000"], at=2**64 - 1, search=5)
        with pytest.raises(InvalidCode):
            HOTP(SECRET).resync(["000000", "000000"], 2**64 - 3, look_ahead=5)


class TestThrottleCap:
    """The delay grows with each failure until its exponent reaches 64, then stays finite."""

    def test_exponent_stops_at_64(self) -> None:
        """With a slow growth the cap is visible: the 65th excess failure waits as long as the 66th."""
        throttle = Throttle(free_attempts=0, base_delay=1.0, growth=1.01, max_delay=86_400, lockout=100)
        assert throttle.delay_after(64) < throttle.delay_after(65)
        assert throttle.delay_after(65) == throttle.delay_after(66) == throttle.delay_after(10**9)


class TestKnownAnswers:
    """Formats other code and other versions read: exact bytes, independent of the writer."""

    def test_hotp_function_passes_its_settings(self) -> None:
        """hotp() honours digits and algorithm: RFC 6238 Appendix B values at step 1 (59 s)."""
        assert hotp(SECRET, 1, digits=8) == "94287082"
        assert hotp(SEED_32, 1, digits=8, algorithm=Algorithm.SHA256) == "46119246"

    def test_base32_ending_in_x(self) -> None:
        """A 20-byte secret whose base32 ends in X keeps it; padded base32 reads back."""
        secret = Secret(bytes(19) + b"\x17")
        assert secret.to_base32() == "A" * 31 + "X"
        assert Secret.from_base32("A" * 31 + "X") == secret

    def test_base32_padding_of_any_length(self) -> None:
        """Trailing '=' are dropped however many there are: full padding, one, or none."""
        for text in ("A" * 26 + "======", "A" * 26 + "=", "A" * 26):
            assert Secret.from_base32(text) == Secret(bytes(16))

    def test_key_ring_json_layout(self) -> None:
        """to_json() writes sorted keys, indented by 2, base64 keys: the key file format."""
        ring = KeyRing({"k2": bytes(32), "k1": b"\xff" * 32}, "k2")
        assert ring.to_json() == (
            "{\n"
            '  "current": "k2",\n'
            '  "keys": {\n'
            '    "k1": "' + "/" * 42 + '8=",\n'
            '    "k2": "' + "A" * 43 + '="\n'
            "  }\n"
            "}"
        )

    def test_uri_of_exactly_the_limit_builds(self) -> None:
        """build_uri writes a URI of exactly MAX_URI_LENGTH characters, and it parses back."""
        base = build_uri(TOTP(SECRET), account="a")
        uri = build_uri(TOTP(SECRET), account="a" * (1 + MAX_URI_LENGTH - len(base)))
        assert len(uri) == MAX_URI_LENGTH
        assert parse_uri(uri).to_uri() == uri

    def test_parameter_names_are_form_decoded(self) -> None:
        """A '+' in a parameter name is a space, as in its value (application/x-www-form-urlencoded)."""
        parsed = parse_uri(f"otpauth://totp/a?secret={SECRET.to_base32()}&my+color=dark+red")
        assert parsed.unknown_parameters == (("my color", "dark red"),)

    def test_new_key_ids(self) -> None:
        """rotated() without an id names the key k- and 8 hex digits, and makes it current."""
        ring = KeyRing.generate("k1").rotated()
        assert re.fullmatch(r"k-[0-9a-f]{8}", ring.current)
        assert ring.key_ids == tuple(sorted(("k1", ring.current)))

    def test_key_file_refuses_junk_in_base64(self) -> None:
        """A key with a character outside base64 is refused, not silently skipped."""
        good = base64.b64encode(bytes(32)).decode("ascii")
        with pytest.raises(ValueError, match="not valid base64"):
            KeyRing.from_json(json.dumps({"current": "k1", "keys": {"k1": good[:10] + "!" + good[10:]}}))

    def test_sealed_blob_layout(self) -> None:
        """A blob made by hand to the documented layout and associated data opens."""
        key = bytes(range(32))
        nonce = bytes(12)
        associated = b"totpcore-seal\x01" + b"k1" + b"\x00" + "ü".encode()
        blob = b"\x01\x02k1" + nonce + AESGCM(key).encrypt(nonce, b"secret", associated)
        assert KeyRing({"k1": key}, "k1").unseal(blob, user_id="ü") == b"secret"

    def test_sealed_blob_layout_with_a_context(self) -> None:
        """With a context: a blob made by hand to the documented layout opens, and seal() writes it."""
        key, nonce, context = bytes(range(32)), bytes(12), b"recovery-digest:3"
        length = b"\x00\x11"  # the context's 17 bytes, 2 bytes big-endian
        associated = b"totpcore-seal-ctx\x01" + b"k1" + b"\x00" + length + context + "ü".encode()
        ring = KeyRing({"k1": key}, "k1")
        blob = b"\x01\x02k1" + nonce + AESGCM(key).encrypt(nonce, b"secret", associated)
        assert ring.unseal(blob, user_id="ü", context=context) == b"secret"
        sealed = ring.seal(b"secret", user_id="ü", context=context)
        assert sealed[:4] == b"\x01\x02k1"
        assert AESGCM(key).decrypt(sealed[4:16], sealed[16:], associated) == b"secret"

    def test_salt_ending_in_x(self) -> None:
        """An 18-byte salt whose base64 ends in X survives encode() and parse()."""
        params = CodeSetParams(LOW_COST, 16, bytes(17) + b"\x17")
        text = params.encode()
        assert text == "$totpcore-rc1-argon2id$v=19$m=8,t=1,p=1,c=16$" + "A" * 23 + "X"
        assert CodeSetParams.parse(text) == params
