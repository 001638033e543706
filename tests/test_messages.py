# mypy: disable-error-code="arg-type, list-item"
"""Refusals of the pure layers, word for word: the type raised and the exact message.

Messages reach users through the command line and logs, so each names the argument, what
was expected and what was given, and never a secret. Pinning them also catches a check
that raises the right class for another reason than the one it reports.
"""

from __future__ import annotations

import datetime as dt
import math
import pickle
from collections.abc import Callable

import pytest

from totpcore import (
    HOTP,
    TOTP,
    ConfigurationError,
    InvalidCode,
    MalformedCode,
    RecordError,
    ReplayedCode,
    Secret,
    SecretError,
    Throttle,
    UriError,
    Window,
    build_uri,
    parse_uri,
)
from totpcore.recovery import (
    Argon2Params,
    CodeSetParams,
    generate_codes,
    hash_codes,
    match_code,
    needs_rehash,
    normalize,
)
from totpcore.sealing import KeyRing

SECRET = Secret(b"12345678901234567890")  # RFC 4226 Appendix D
B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # the same key in base32
#: One recovery code, hashed at the lowest cost, for the matching rows.
HASHED = hash_codes(["ABCD-EFGH-JKMN-PQRS"], params=Argon2Params(8, 1, 1), context=b"u")

CODES = [
    pytest.param(
        lambda: TOTP(SECRET).at("59"),
        TypeError,
        "time must be Unix seconds (int or float) or an aware datetime, not str",
        id="time of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET).at(dt.datetime(2026, 1, 1)),  # noqa: DTZ001  # naive on purpose
        ConfigurationError,
        "a naive datetime has no time zone; pass an aware datetime or Unix seconds",
        id="naive datetime",
    ),
    pytest.param(
        lambda: TOTP(SECRET).at(math.inf),
        ConfigurationError,
        "time must be finite, got inf",
        id="infinite time",
    ),
    pytest.param(
        lambda: TOTP(SECRET, t0=100).at(99.5),
        ConfigurationError,
        "time 99.5 is before t0=100",
        id="time before t0",
    ),
    pytest.param(
        lambda: TOTP(SECRET, period=1).at(float(2**64)),
        ConfigurationError,
        "time 1.8446744073709552e+19 gives a step beyond 2**64 - 1",
        id="step beyond 64 bits",
    ),
    pytest.param(
        lambda: TOTP(SECRET, digits=9),
        ConfigurationError,
        "digits=9 is out of range: expected 6 to 8",
        id="digits out of range",
    ),
    pytest.param(
        lambda: HOTP(SECRET, digits="6"),
        TypeError,
        "digits must be an int, not str",
        id="digits of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify(123456, at=59),
        MalformedCode,
        "a code is a str of 6 digits, not int",
        id="code of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("12345", at=59),
        MalformedCode,
        "a code is exactly 6 ASCII digits (spaces are ignored)",
        id="code too short",
    ),
    pytest.param(
        lambda: TOTP(SECRET).resync("123456", at=59),
        MalformedCode,
        "resynchronisation codes come as a list or tuple, not str",
        id="codes as one str",
    ),
    pytest.param(
        lambda: TOTP(SECRET).resync(None, at=59),
        MalformedCode,
        "resynchronisation codes come as a list or tuple, not NoneType",
        id="codes of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET).resync(["123456"], at=59),
        InvalidCode,
        "resynchronisation needs at least two consecutive codes",
        id="one code for a resync",
    ),
    pytest.param(
        lambda: HOTP(b"12345678901234567890"),
        TypeError,
        "secret must be a totpcore.Secret, not bytes; wrap raw bytes with Secret(raw) or text with "
        "Secret.from_base32(text)",
        id="secret of the wrong type",
    ),
    pytest.param(
        lambda: HOTP(SECRET, algorithm="SHA1"),
        TypeError,
        "algorithm must be a totpcore.Algorithm, not str",
        id="algorithm of the wrong type",
    ),
    # TOTP.__init__ has its own fast path: each wrong type alone, the other arguments valid.
    pytest.param(
        lambda: TOTP(b"12345678901234567890"),
        TypeError,
        "secret must be a totpcore.Secret, not bytes; wrap raw bytes with Secret(raw) or text with "
        "Secret.from_base32(text)",
        id="TOTP secret of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET, algorithm="SHA1"),
        TypeError,
        "algorithm must be a totpcore.Algorithm, not str",
        id="TOTP algorithm of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET, digits=6.0),
        TypeError,
        "digits must be an int, not float",
        id="TOTP digits as a float equal to 6",
    ),
    pytest.param(
        lambda: HOTP(SECRET).at(2**64),
        ConfigurationError,
        "counter=18446744073709551616 is out of range: expected 0 to 18446744073709551615",
        id="counter out of range",
    ),
    pytest.param(
        lambda: HOTP(SECRET).at(1.0),
        TypeError,
        "counter must be an int, not float",
        id="counter of the wrong type",
    ),
    pytest.param(
        lambda: HOTP(SECRET).digest(-1),
        ConfigurationError,
        "counter=-1 is out of range: expected 0 to 18446744073709551615",
        id="digest counter negative",
    ),
    pytest.param(
        lambda: HOTP(SECRET).verify("755224", 0, look_ahead=10_001),
        ConfigurationError,
        "look_ahead=10001 is out of range: expected 0 to 1000",
        id="look_ahead out of range",
    ),
    pytest.param(
        lambda: HOTP(SECRET).verify("000000", 0),
        InvalidCode,
        "code does not match any counter in the look-ahead window",
        id="hotp no match",
    ),
    pytest.param(
        lambda: HOTP(SECRET).resync(["755224", "287082"], 0, look_ahead=None),
        TypeError,
        "look_ahead must be an int, not NoneType",
        id="resync look_ahead of the wrong type",
    ),
    pytest.param(
        lambda: HOTP(SECRET).resync(["000000", "000001"], 0),
        InvalidCode,
        "the codes are not consecutive codes in the resynchronisation window",
        id="hotp resync no match",
    ),
    pytest.param(
        lambda: TOTP(SECRET, period=121),
        ConfigurationError,
        "period=121 is out of range: expected 1 to 120",
        id="period out of range",
    ),
    pytest.param(
        lambda: TOTP(SECRET, period=0),
        ConfigurationError,
        "period=0 is out of range: expected 1 to 120",
        id="period zero",
    ),
    pytest.param(
        lambda: TOTP(SECRET, t0=-1),
        ConfigurationError,
        "t0=-1 is out of range: expected 0 to 18446744073709551615",
        id="t0 negative",
    ),
    pytest.param(
        lambda: TOTP(SECRET, t0=0.0), TypeError, "t0 must be an int, not float", id="t0 of the wrong type"
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("287082", at=59, drift=2**64),
        ConfigurationError,
        "drift=18446744073709551616 is out of range: expected -18446744073709551615 to 18446744073709551615",
        id="drift out of range",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("287082", at=59, drift=1.0),
        TypeError,
        "drift must be an int, not float",
        id="drift of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("287082", at=59, window=(1, 1)),
        TypeError,
        "window must be a totpcore.Window, not tuple",
        id="window of the wrong type",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("000000", at=59),
        InvalidCode,
        "code does not match any step in the window",
        id="totp no match",
    ),
    pytest.param(
        lambda: TOTP(SECRET).resync(["287082", "081804"], at=59, search=0),
        ConfigurationError,
        "search=0 is out of range: expected 1 to 100000",
        id="search out of range",
    ),
    pytest.param(
        lambda: TOTP(SECRET).resync(["000000", "000001"], at=59),
        InvalidCode,
        "the codes are not consecutive codes within the resynchronisation search",
        id="totp resync no match",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("287082", at=59, last_step=-1),
        ConfigurationError,
        "last_step=-1 is out of range: expected 0 to 18446744073709551615",
        id="last_step out of range",
    ),
    pytest.param(
        lambda: Window(-1, 1),
        ConfigurationError,
        "past=-1 is out of range: expected 0 to 10",
        id="window past out of range",
    ),
    pytest.param(
        lambda: Window(1, "1"),
        TypeError,
        "future must be an int, not str",
        id="window future of the wrong type",
    ),
    pytest.param(
        lambda: Window(1, 1).lifetime(121),
        ConfigurationError,
        "period=121 is out of range: expected 1 to 120",
        id="window lifetime period",
    ),
    pytest.param(
        lambda: TOTP(SECRET).verify("287082", at=59, last_step=1),
        ReplayedCode,
        "code already used: it matches step 1, at or before the last accepted step",
        id="replayed",
    ),
]

SECRET_ROWS = [
    pytest.param(
        lambda: Secret("12345678901234567890"),
        TypeError,
        "a secret is bytes, not str; use Secret.from_base32 for text",
        id="raw secret of the wrong type",
    ),
    pytest.param(
        lambda: Secret(b"1234567890"),
        SecretError,
        "secret is 10 bytes; at least 16 bytes are required (pass allow_short=True only to import a "
        "legacy enrollment)",
        id="short secret",
    ),
    pytest.param(
        lambda: Secret(b"123456789", allow_short=True),
        SecretError,
        "secret is 9 bytes; at least 10 bytes are required",
        id="short secret with the opt-in",
    ),
    pytest.param(
        lambda: Secret(bytes(1025)),
        SecretError,
        "secret is 1025 bytes; at most 1024 are accepted",
        id="long secret",
    ),
    pytest.param(
        lambda: Secret.generate(20.0),
        TypeError,
        "nbytes is an int, not float",
        id="generate nbytes of the wrong type",
    ),
    pytest.param(
        lambda: Secret.generate(15),
        SecretError,
        "nbytes=15: generated secrets are 16 to 1024 bytes",
        id="generate nbytes out of range",
    ),
    pytest.param(
        lambda: Secret.from_base32(b"GEZDGNBV"),
        TypeError,
        "a base32 secret is a str, not bytes",
        id="base32 of the wrong type",
    ),
    pytest.param(
        lambda: Secret.from_base32(" - "), SecretError, "the base32 secret is empty", id="base32 empty"
    ),
    pytest.param(
        lambda: Secret.from_base32("GEZDGNBVGY3TQOJ1"),
        SecretError,
        "character 16 of the base32 secret is not a base32 character (A-Z, 2-7)",
        id="base32 bad character",
    ),
    pytest.param(
        lambda: Secret.from_base32("GEZDGNBVGY3TQOJQG"),
        SecretError,
        "no base32 encoding has 17 characters; the secret was truncated or mistyped",
        id="base32 bad length",
    ),
    pytest.param(
        lambda: Secret.from_base32("GEZDGNBV=GY3TQOJQ"),
        SecretError,
        "character 9 of the base32 secret is padding ('=') before the end of the secret",
        id="base32 padding inside",
    ),
    pytest.param(
        lambda: delattr(SECRET, "_raw"),
        AttributeError,
        "Secret is immutable",
        id="delete an attribute of a secret",
    ),
    pytest.param(
        lambda: pickle.dumps(SECRET),
        TypeError,
        "Secret refuses to be pickled; seal it with totpcore.sealing or export to_base32() explicitly",
        id="pickle a secret",
    ),
]

THROTTLE = [
    pytest.param(
        lambda: Throttle(lockout=101),
        ConfigurationError,
        "lockout=101 is out of range: expected 1 to 100",
        id="lockout out of range",
    ),
    pytest.param(
        lambda: Throttle(free_attempts=10, lockout=10),
        ConfigurationError,
        "free_attempts=10 is out of range: expected 0 to 9",
        id="free_attempts out of range",
    ),
    pytest.param(
        lambda: Throttle(base_delay="2"),
        TypeError,
        "base_delay must be a number of seconds, not str",
        id="base_delay of the wrong type",
    ),
    pytest.param(
        lambda: Throttle(base_delay=20.0, max_delay=10.0),
        ConfigurationError,
        "delays must satisfy 0 < base_delay (20.0) <= max_delay (10.0) <= 86400 seconds",
        id="base_delay above max_delay",
    ),
    pytest.param(
        lambda: Throttle(growth=11),
        ConfigurationError,
        "growth=11 is out of range: expected 1 to 10",
        id="growth out of range",
    ),
]

SEALING = [
    pytest.param(
        lambda: KeyRing({}, "k1"),
        ConfigurationError,
        "a key ring needs at least one key",
        id="empty key ring",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(16)}, "k1"),
        ConfigurationError,
        "key 'k1' must be 32 bytes (AES-256)",
        id="key of the wrong size",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k2"),
        ConfigurationError,
        "the current key 'k2' is not in the key ring",
        id="current key missing",
    ),
    pytest.param(
        lambda: KeyRing({"k 1": bytes(32)}, "k 1"),
        ConfigurationError,
        "key ids are 1 to 64 characters from A-Z a-z 0-9 . _ -",
        id="bad key id",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").rotated("k1"),
        ConfigurationError,
        "key id 'k1' is already in the key ring",
        id="rotated to an existing id",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").unseal(
            KeyRing({"k2": bytes(32)}, "k2").seal(b"x", user_id="u"), user_id="u"
        ),
        RecordError,
        "a stored value is sealed under key 'k2', which is not in the key ring "
        "(keep old keys until rotate_keys() has re-sealed everything)",
        id="unseal under an unknown key",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").unseal(
            KeyRing({"k1": bytes(32)}, "k1").seal(b"x", user_id="u"), user_id="v"
        ),
        RecordError,
        "a sealed value failed authentication: it was altered or belongs to another user",
        id="unseal for another user",
    ),
    pytest.param(
        lambda: KeyRing.from_json("{"), ConfigurationError, "the key ring is not valid JSON", id="not json"
    ),
    pytest.param(
        lambda: KeyRing.from_json("[]"),
        ConfigurationError,
        'a key ring is {"current": "<key id>", "keys": {"<key id>": "<base64>"}}',
        id="json of another shape",
    ),
    pytest.param(
        lambda: KeyRing.from_json('{"current": "k1", "keys": {"k1": "!!"}}'),
        ConfigurationError,
        "key 'k1' is not valid base64",
        id="key not base64",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").seal(b"x", user_id=""),
        ConfigurationError,
        "user_id must be a non-empty str",
        id="user id empty",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").unseal(b"\x02\x02k1", user_id="u"),
        RecordError,
        "not a sealed value (unknown format or version)",
        id="blob of another format",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").unseal(b"\x01\x02k1" + bytes(27), user_id="u"),
        RecordError,
        "a sealed value is truncated",
        id="blob truncated",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").unseal(b"\x01\x02\xff\xfe" + bytes(28), user_id="u"),
        RecordError,
        "a sealed value has a malformed key id",
        id="blob with a bad key id",
    ),
    pytest.param(
        lambda: KeyRing.from_env("TOTPCORE_TEST_UNSET_VARIABLE"),
        ConfigurationError,
        "environment variable TOTPCORE_TEST_UNSET_VARIABLE is not set",
        id="env unset",
    ),
    pytest.param(
        lambda: KeyRing({"k1": bytes(32)}, "k1").unseal(b"\x01\x00", user_id="u"),
        RecordError,
        "a sealed value is truncated",
        id="blob of two bytes",
    ),
]

RECOVERY = [
    pytest.param(
        lambda: Argon2Params(8, 1, 0),
        ConfigurationError,
        "lanes=0 is out of range: expected 1 to 16",
        id="argon2 lanes out of range",
    ),
    pytest.param(
        lambda: Argon2Params(8, 0, 1),
        ConfigurationError,
        "iterations=0 is out of range: expected 1 to 32",
        id="argon2 iterations out of range",
    ),
    pytest.param(
        lambda: Argon2Params(15, 1, 2),
        ConfigurationError,
        "memory_kib=15 is out of range: expected 16 to 1048576",
        id="argon2 memory below 8 per lane",
    ),
    pytest.param(
        lambda: CodeSetParams("x", 16, bytes(16)),
        TypeError,
        "argon2 must be an Argon2Params, not str",
        id="code set params argon2 of the wrong type",
    ),
    pytest.param(
        lambda: CodeSetParams(Argon2Params(8, 1, 1), 5, bytes(16)),
        ConfigurationError,
        "length=5 is out of range: expected 13 to 32",
        id="code set params length out of range",
    ),
    pytest.param(
        lambda: CodeSetParams(Argon2Params(8, 1, 1), 16, "salt"),
        TypeError,
        "salt must be bytes, not str",
        id="code set params salt of the wrong type",
    ),
    pytest.param(
        lambda: CodeSetParams(Argon2Params(8, 1, 1), 16, bytes(3)),
        ConfigurationError,
        "the salt is 3 bytes; expected 16 to 64",
        id="code set params salt of the wrong size",
    ),
    pytest.param(
        lambda: CodeSetParams.parse(1),
        TypeError,
        "the parameter string must be a str, not int",
        id="parameter string of the wrong type",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA"),
        ConfigurationError,
        "not a recovery-code parameter string: expected $totpcore-rc1-argon2id$v=19$...",
        id="parameter string of another scheme",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$" + "x" * 40 + "$v=19$m=8,t=1,p=1,c=16$NzJpVXaPSug8GIXLoMizPg"),
        ConfigurationError,
        "unknown recovery-code scheme 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx': this version of totpcore "
        "reads 'totpcore-rc1-argon2id' and 'totpcore-rc2-argon2id'",
        id="parameter string with a long scheme",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$" + "x" * 210 + "$v=19$m=8,t=1,p=1,c=16$NzJpVXaPSug8GIXLoMizPg"),
        ConfigurationError,
        "unknown recovery-code scheme 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx': this version of totpcore "
        "reads 'totpcore-rc1-argon2id' and 'totpcore-rc2-argon2id'",
        id="parameter string of 256 characters",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$" + "x" * 211 + "$v=19$m=8,t=1,p=1,c=16$NzJpVXaPSug8GIXLoMizPg"),
        ConfigurationError,
        "not a recovery-code parameter string: expected $totpcore-rc1-argon2id$v=19$...",
        id="parameter string of 257 characters",
    ),
    pytest.param(
        lambda: CodeSetParams.parse(
            "$totpcore-rc1-argon2id$v=19999999999999999999$m=8,t=1,p=1,c=16$NzJpVXaPSug8GIXLoMizPg"
        ),
        ConfigurationError,
        "unsupported Argon2 version 'v=19999999999999': expected 'v=19'",
        id="parameter string with another version",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$totpcore-rc1-argon2id$v=19$m=8,t=1$NzJpVXaPSug8GIXLoMizPg"),
        ConfigurationError,
        "malformed costs in the parameter string: expected m=<KiB>,t=<n>,p=<n>,c=<n>",
        id="parameter string with malformed costs",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$totpcore-rc1-argon2id$v=19$m=8,t=1,p=1,c=16$NzJpVXaPSug8GIXLoMizPg=="),
        ConfigurationError,
        "the salt of the parameter string is not canonical unpadded base64",
        id="parameter string with a padded salt",
    ),
    pytest.param(
        lambda: CodeSetParams.parse("$totpcore-rc1-argon2id$v=19$m=8,t=1,p=1,c=16$NzJpVXaPSug8GIXLoMizP!"),
        ConfigurationError,
        "the salt of the parameter string is not canonical unpadded base64",
        id="parameter string with a salt that is not base64",
    ),
    pytest.param(
        lambda: generate_codes(21),
        ConfigurationError,
        "count=21 is out of range: expected 1 to 20",
        id="generate count out of range",
    ),
    pytest.param(
        lambda: generate_codes(5, 80.0),
        TypeError,
        "bits must be an int, not float",
        id="generate bits of the wrong type",
    ),
    pytest.param(
        lambda: generate_codes(5, 60),
        ConfigurationError,
        "bits=60: a recovery code needs at least 64 bits (NIST SP 800-63B-4 §4.2.1.1)",
        id="generate bits out of range",
    ),
    pytest.param(
        lambda: hash_codes(["ABCD-EFGH-JKMN-PQRS"], params="x", context=b"u"),
        TypeError,
        "params must be an Argon2Params, not str",
        id="hash params of the wrong type",
    ),
    pytest.param(
        lambda: hash_codes("ABCD-EFGH-JKMN-PQRS", params=Argon2Params(8, 1, 1), context=b"u"),
        TypeError,
        "codes must be a list of recovery codes, not str",
        id="hash codes of the wrong type",
    ),
    pytest.param(
        lambda: hash_codes([], params=Argon2Params(8, 1, 1), context=b"u"),
        ConfigurationError,
        "the number of codes=0 is out of range: expected 1 to 20",
        id="hash no codes",
    ),
    pytest.param(
        lambda: hash_codes(
            ["ABCD-EFGH-JKMN-PQRS", "ABCD-EFGH-JKMN-PQRS-TV"], params=Argon2Params(8, 1, 1), context=b"u"
        ),
        ConfigurationError,
        "the codes of one set must all have the same length",
        id="hash codes of different lengths",
    ),
    pytest.param(
        lambda: hash_codes(
            ["ABCD-EFGH-JKMN-PQRS", "abcd efgh jkmn pqrs"], params=Argon2Params(8, 1, 1), context=b"u"
        ),
        ConfigurationError,
        "the set repeats a code; generate_codes() never does",
        id="hash a repeated code",
    ),
    pytest.param(
        lambda: hash_codes(["ABCD-EFGH-JKMN-PQR!"], params=Argon2Params(8, 1, 1), context=b"u"),
        ConfigurationError,
        "code 1 of the set is not a recovery code: a recovery code uses the digits and the letters A-Z "
        "except U (Crockford base32)",
        id="hash a code that is not a recovery code",
    ),
    pytest.param(
        lambda: hash_codes(["ABCD-EFGH-JKMN-PQRS"], params=Argon2Params(8, 1, 1), context="u"),
        TypeError,
        "context must be bytes, for example user_id.encode(), not str",
        id="hash context of the wrong type",
    ),
    pytest.param(
        lambda: hash_codes(["ABCD-EFGH-JKMN-PQRS"], params=Argon2Params(8, 1, 1), context=b""),
        ConfigurationError,
        "context is 0 bytes; expected 1 to 1024 (it binds digests to a user)",
        id="hash context empty",
    ),
    pytest.param(
        lambda: normalize(12345),
        MalformedCode,
        "a recovery code is a str, not int",
        id="recovery code of the wrong type",
    ),
    pytest.param(
        lambda: normalize("ABCD-EFGH-JKMN-PQRÉ"),
        MalformedCode,
        "a recovery code is ASCII letters and digits, grouped by hyphens or spaces",
        id="recovery code not ASCII",
    ),
    pytest.param(
        lambda: normalize("ABCD-EFGH-JKMN-PQRU"),
        MalformedCode,
        "a recovery code uses the digits and the letters A-Z except U (Crockford base32)",
        id="recovery code with a U",
    ),
    pytest.param(
        lambda: normalize("ABCD-EFGH-JKMN"),
        MalformedCode,
        "a recovery code has 16 characters (hyphens and spaces are ignored)",
        id="recovery code of the wrong length",
    ),
    pytest.param(
        lambda: needs_rehash(HASHED.params, "x"),
        TypeError,
        "current must be an Argon2Params, not str",
        id="needs_rehash current of the wrong type",
    ),
    pytest.param(
        lambda: match_code("ABCD-EFGH-JKMN-PQRS", HASHED.params, 1, context=b"u"),
        TypeError,
        "unused must be an iterable of (index, digest) pairs, not int",
        id="match unused of the wrong type",
    ),
    pytest.param(
        lambda: match_code("ABCD-EFGH-JKMN-PQRS", HASHED.params, [(0,)], context=b"u"),
        TypeError,
        "each stored pair must be an (index, digest) pair, not tuple",
        id="match a pair of the wrong shape",
    ),
    pytest.param(
        lambda: match_code("ABCD-EFGH-JKMN-PQRS", HASHED.params, [(20, bytes(32))], context=b"u"),
        ConfigurationError,
        "a stored index=20 is out of range: expected 0 to 19",
        id="match a stored index out of range",
    ),
    pytest.param(
        lambda: match_code("ABCD-EFGH-JKMN-PQRS", HASHED.params, [(0, "x")], context=b"u"),
        TypeError,
        "a stored digest must be bytes, not str",
        id="match a stored digest of the wrong type",
    ),
    pytest.param(
        lambda: match_code("ABCD-EFGH-JKMN-PQRS", HASHED.params, [(0, bytes(3))], context=b"u"),
        ConfigurationError,
        "the stored digest of code 0 is 3 bytes, not 32",
        id="match a stored digest of the wrong size",
    ),
    pytest.param(
        lambda: match_code(
            "ABCD-EFGH-JKMN-PQRS", HASHED.params, [(0, bytes(32)), (0, bytes(32))], context=b"u"
        ),
        ConfigurationError,
        "code 0 appears twice among the stored pairs",
        id="match an index twice",
    ),
    pytest.param(
        lambda: match_code(
            "ABCD-EFGH-JKMN-PQRT", HASHED.params, list(enumerate(HASHED.digests)), context=b"u"
        ),
        InvalidCode,
        "the recovery code matches no unused code of this user",
        id="match no code",
    ),
    pytest.param(
        lambda: generate_codes(5, 165),
        ConfigurationError,
        "bits=165 is out of range: expected 64 to 160",
        id="bits above the range",
    ),
]

URI = [
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a:b"),
        UriError,
        "the account contains a colon, which the otpauth format forbids in names",
        id="account with a colon",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account=" a"),
        UriError,
        "the account starts with a space, which the format strips after the issuer",
        id="account starting with a space",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a", counter=0),
        UriError,
        "counter is for an HOTP URI; a TOTP URI has none",
        id="counter for a TOTP",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET, t0=1), account="a"),
        UriError,
        "the otpauth format has no t0 parameter: only a TOTP with t0=0 can be provisioned",
        id="TOTP with t0",
    ),
    pytest.param(
        lambda: build_uri(HOTP(SECRET), account="a"),
        UriError,
        "an HOTP URI needs counter=: the next counter the app should use",
        id="HOTP without counter",
    ),
    pytest.param(
        lambda: build_uri(SECRET, account="a"),
        TypeError,
        "otp must be a totpcore.TOTP or totpcore.HOTP, not Secret",
        id="not an OTP",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account=b"a"),
        TypeError,
        "account must be a str, not bytes",
        id="name of the wrong type",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a", issuer=""),
        UriError,
        "the issuer is empty",
        id="empty issuer",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a", issuer="a\nb"),
        UriError,
        "the issuer contains a control character or a lone surrogate",
        id="issuer with a control character",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a", image=b"https://x"),
        TypeError,
        "image must be a str, not bytes",
        id="image of the wrong type",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a", image="https://x/\n"),
        UriError,
        "the image URL contains a control character",
        id="image with a control character",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a", image="http://x/a.png"),
        UriError,
        "the image must be an absolute https:// URL",
        id="image not https",
    ),
    pytest.param(
        lambda: build_uri(TOTP(SECRET), account="a" * 4096),
        UriError,
        "the URI would be 4151 characters; at most 4096 are accepted",
        id="built URI too long",
    ),
    pytest.param(
        lambda: parse_uri(b"otpauth://totp/a"),
        TypeError,
        "uri must be a str, not bytes",
        id="uri of the wrong type",
    ),
    pytest.param(
        lambda: parse_uri("a" * 4097),
        UriError,
        "the URI is 4097 characters; at most 4096 are accepted",
        id="uri too long",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a\nb?secret=" + B32),
        UriError,
        "character 17 of the URI is a control character or a lone surrogate",
        id="raw control character",
    ),
    pytest.param(
        lambda: parse_uri("https://totp/a?secret=" + B32),
        UriError,
        "not an otpauth URI: the scheme must be otpauth://",
        id="another scheme",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "#x"),
        UriError,
        "an otpauth URI has no fragment ('#')",
        id="fragment",
    ),
    pytest.param(
        lambda: parse_uri("otpauth:totp/a?secret=" + B32),
        UriError,
        "an otpauth URI starts with otpauth://TYPE/",
        id="no double slash",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://steam/a?secret=" + B32),
        UriError,
        "the type of an otpauth URI must be totp or hotp",
        id="another type",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp?secret=" + B32),
        UriError,
        "the URI has no label (otpauth://TYPE/LABEL?PARAMETERS)",
        id="no label",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/:a?secret=" + B32),
        UriError,
        "the issuer prefix of the label is empty",
        id="empty issuer prefix",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a:b:c?secret=" + B32),
        UriError,
        "the label has more than one ':' or '%3A' that the issuer parameter does not explain",
        id="two separators",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/A:a?secret=" + B32 + "&issuer=B"),
        UriError,
        "the issuer parameter differs from the issuer prefix of the label",
        id="issuer differs",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/A:%20?secret=" + B32),
        UriError,
        "the label has no account name",
        id="no account",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/A%G1:a?secret=" + B32),
        UriError,
        "the issuer prefix of the label has a '%' that does not start a %XX escape",
        id="bad escape in the prefix",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/A:a%G1?secret=" + B32),
        UriError,
        "the account has a '%' that does not start a %XX escape",
        id="bad escape in the account",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&x%G1=1"),
        UriError,
        "a parameter name has a '%' that does not start a %XX escape",
        id="bad escape in a parameter name",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&issuer=%G1"),
        UriError,
        "the issuer parameter has a '%' that does not start a %XX escape",
        id="bad escape in the issuer",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&x=%G1"),
        UriError,
        "an unknown parameter has a '%' that does not start a %XX escape",
        id="bad escape in an unknown parameter",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a%FF?secret=" + B32),
        UriError,
        "the account is not UTF-8 once percent-decoded",
        id="not UTF-8",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a%0A?secret=" + B32),
        UriError,
        "the account contains a control character once percent-decoded",
        id="encoded control character",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&lock"),
        UriError,
        "a parameter has no '=' (expected name=value)",
        id="parameter without =",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&=x"),
        UriError,
        "a parameter has an empty name",
        id="parameter with an empty name",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&digits=6&digits=6"),
        UriError,
        "the digits parameter appears more than once",
        id="known parameter twice",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&x=1&X=2"),
        UriError,
        "an unknown parameter appears more than once",
        id="unknown parameter twice",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?Secret=" + B32),
        UriError,
        "parameter names are lower case: write secret",
        id="known parameter in upper case",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?issuer=A"),
        UriError,
        "the URI has no secret parameter",
        id="no secret",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=GEZDGNBVGY3TQOJ1"),
        UriError,
        "bad secret parameter: character 16 of the base32 secret is not a base32 character (A-Z, 2-7)",
        id="bad secret",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&algorithm=MD5"),
        UriError,
        "the algorithm parameter must be SHA1, SHA256 or SHA512",
        id="unknown algorithm",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&digits=9"),
        UriError,
        "the digits parameter must be a decimal number from 6 to 8",
        id="digits out of range",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&digits=06"),
        UriError,
        "the digits parameter must be a decimal number from 6 to 8",
        id="digits with a leading zero",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&period=121"),
        UriError,
        "the period parameter must be a decimal number from 1 to 120",
        id="period out of range",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&period=3s"),
        UriError,
        "the period parameter must be a decimal number from 1 to 120",
        id="period not a number",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://hotp/a?secret=" + B32 + "&counter=18446744073709551616"),
        UriError,
        "the counter parameter must be a decimal number from 0 to 18446744073709551615",
        id="counter out of range",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/a?secret=" + B32 + "&counter=1"),
        UriError,
        "a TOTP URI has no counter parameter; is it an HOTP URI?",
        id="counter on a TOTP",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://hotp/a?secret=" + B32 + "&period=30"),
        UriError,
        "an HOTP URI has no period parameter; is it a TOTP URI?",
        id="period on an HOTP",
    ),
    pytest.param(
        lambda: parse_uri("otpauth://totp/A:" + "日" * 500 + "?secret=" + B32),
        UriError,
        "written canonically the URI is 4566 characters; at most 4096 are allowed",
        id="canonical form too long",
    ),
]


def refused(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """*call* raises exactly *error* (not a subclass) with exactly *message*."""
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error
    assert str(caught.value) == message


@pytest.mark.parametrize(("call", "error", "message"), CODES)
def test_codes_times_and_settings(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """HOTP, TOTP, Window and the shared checks name the argument, the range and the type given."""
    refused(call, error, message)


@pytest.mark.parametrize(("call", "error", "message"), SECRET_ROWS)
def test_secrets(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """Secret names sizes and positions, never the secret."""
    refused(call, error, message)


@pytest.mark.parametrize(("call", "error", "message"), THROTTLE)
def test_throttle(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """Throttle names the setting and its bounds."""
    refused(call, error, message)


@pytest.mark.parametrize(("call", "error", "message"), SEALING)
def test_sealing(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """KeyRing names key ids and shapes, never key material or plaintext."""
    refused(call, error, message)


@pytest.mark.parametrize(("call", "error", "message"), RECOVERY)
def test_recovery_codes(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """Recovery codes: costs, parameter strings, sets and stored pairs, never a code."""
    refused(call, error, message)


@pytest.mark.parametrize(("call", "error", "message"), URI)
def test_provisioning_uris(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """build_uri and parse_uri name the part of the URI that is wrong, never its content."""
    refused(call, error, message)
