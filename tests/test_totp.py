"""RFC 6238 TOTP generation: vectors, time steps, boundaries and bad input."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import math
from fractions import Fraction

import pyotp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from helpers import HASHLIB, load_vectors, stdlib_hotp
from totpcore import HOTP, TOTP, Algorithm, ConfigurationError, Secret

RFC6238 = load_vectors("rfc6238.txt")
SHA1_SECRET = Secret(b"12345678901234567890")
UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
#: Fixed UTC offsets, down to the microsecond (datetime allows any offset under 24 h).
OFFSETS = st.timedeltas(
    min_value=-dt.timedelta(hours=24) + dt.timedelta(microseconds=1),
    max_value=dt.timedelta(hours=24) - dt.timedelta(microseconds=1),
).map(dt.timezone)
#: Aware datetimes far from the limits of datetime (converting them to UTC cannot overflow).
AWARE_DATETIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 2),  # noqa: DTZ001  # hypothesis bounds are naive wall times
    max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=OFFSETS,
)


def test_vector_file_is_complete() -> None:
    """All 18 rows of RFC 6238 Appendix B: six times, three modes each."""
    assert len(RFC6238) == 18
    assert {v["MODE"] for v in RFC6238} == {"SHA1", "SHA256", "SHA512"}


@pytest.mark.parametrize("v", RFC6238, ids=lambda v: f"{v['MODE']}-t{v['TIME']}")
def test_rfc6238_appendix_b(v: dict[str, str]) -> None:
    """The step T and the 8-digit TOTP of every Appendix B row, with the per-mode seed."""
    otp = TOTP(Secret(v["SECRET"].encode("ascii")), digits=8, algorithm=Algorithm[v["MODE"]])
    t = int(v["TIME"])
    assert otp.step_at(t) == int(v["T"], 16)
    assert otp.at(t) == v["TOTP"]


class TestTimeSteps:
    """T = floor((t - T0) / X) (RFC 6238 §4.2)."""

    @pytest.mark.parametrize(("t", "step"), [(0, 0), (29, 0), (59, 1), (60, 2), (59.999, 1), (60.0, 2)])
    def test_floor_division(self, t: float, step: int) -> None:
        """RFC 6238 §4.2's own example: T = 1 at 59 s and T = 2 at 60 s."""
        assert TOTP(SHA1_SECRET).step_at(t) == step

    def test_t0_shifts_the_origin(self) -> None:
        """Steps count from t0; t0 itself is step 0."""
        otp = TOTP(SHA1_SECRET, t0=100)
        assert [otp.step_at(t) for t in (100, 129, 130)] == [0, 0, 1]

    @pytest.mark.parametrize(("t", "t0"), [(-1, 0), (-0.5, 0), (99, 100), (99.9, 100)])
    def test_times_before_t0_are_refused(self, t: float, t0: int) -> None:
        """A time before t0 has no step: ConfigurationError, not a negative counter."""
        with pytest.raises(ConfigurationError, match="before t0"):
            TOTP(SHA1_SECRET, t0=t0).at(t)
        with pytest.raises(ConfigurationError, match="before t0"):
            TOTP(SHA1_SECRET, t0=t0).step_at(t)

    def test_no_32_bit_limit(self) -> None:
        """Times beyond 2038 and 2**32 steps work (RFC 6238 §4.2)."""
        otp = TOTP(SHA1_SECRET, period=1)
        assert otp.step_at(2**40) == 2**40
        assert otp.at(2**40) == HOTP(SHA1_SECRET).at(2**40)

    def test_steps_beyond_64_bits_are_refused(self) -> None:
        """A time whose step does not fit in 8 bytes is a ConfigurationError (step_at's int path too)."""
        otp = TOTP(SHA1_SECRET, period=1)
        assert otp.step_at(2**64 - 1) == 2**64 - 1
        with pytest.raises(ConfigurationError, match="beyond 2\\*\\*64 - 1"):
            otp.step_at(2**64)
        with pytest.raises(ConfigurationError, match="2\\*\\*64"):
            otp.at(2**64)
        with pytest.raises(ConfigurationError, match="2\\*\\*64"):
            otp.at(1e30)

    def test_float_times_beyond_2_to_the_53_floor_exactly(self) -> None:
        """At 1.0133099161583614e16 s with a 3 s period the step is the exact floor, not float //'s."""
        t = 1.0133099161583614e16
        assert t // 3 == 3377699720527870  # float floor division rounds one step short here
        otp = TOTP(SHA1_SECRET, period=3)
        assert otp.step_at(t) == 3377699720527871 == math.floor(Fraction(t) / 3)
        assert otp.at(t) == HOTP(SHA1_SECRET).at(3377699720527871)

    @given(
        t=st.floats(min_value=2**50, max_value=2**71, allow_nan=False, allow_infinity=False),
        t0=st.integers(0, 2**63),
        period=st.integers(1, 120),
    )
    def test_large_float_times_floor_exactly(self, t: float, t0: int, period: int) -> None:
        """For any float time, step_at is floor((t - t0) / period) in exact rational arithmetic."""
        otp = TOTP(SHA1_SECRET, period=period, t0=t0)
        exact = math.floor((Fraction(t) - t0) / period)
        if exact < 0:
            with pytest.raises(ConfigurationError, match="before t0"):
                otp.step_at(t)
        elif exact >= 2**64:
            with pytest.raises(ConfigurationError, match="2\\*\\*64"):
                otp.step_at(t)
        else:
            assert otp.step_at(t) == exact

    @pytest.mark.parametrize(
        ("t", "message"), [(2**1100, "2\\*\\*64"), (-(2**1100), "before t0")], ids=["2**1100", "-2**1100"]
    )
    def test_huge_integers(self, t: int, message: str) -> None:
        """An int too large for a float is a ConfigurationError, not an OverflowError."""
        with pytest.raises(ConfigurationError, match=message):
            TOTP(SHA1_SECRET).at(t)

    @pytest.mark.parametrize("t", [math.nan, math.inf, -math.inf])
    def test_non_finite_times(self, t: float) -> None:
        """NaN and infinities are refused."""
        with pytest.raises(ConfigurationError, match="finite"):
            TOTP(SHA1_SECRET).at(t)

    def test_aware_datetimes_are_unix_time(self) -> None:
        """An aware datetime means the same instant in any time zone."""
        otp = TOTP(SHA1_SECRET, digits=8)
        utc = dt.datetime(2009, 2, 13, 23, 31, 30, tzinfo=dt.timezone.utc)
        paris = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
        assert otp.at(utc) == otp.at(paris) == otp.at(1234567890)

    def test_the_last_microsecond_of_a_step(self) -> None:
        """2600-01-01T00:00:29.999999Z is in step floor(19880899229 / 30), not the next one."""
        moment = dt.datetime(2600, 1, 1, 0, 0, 29, 999999, tzinfo=UTC)
        assert moment.timestamp() == 19880899230.0  # the float rounds it into the next step
        assert TOTP(SHA1_SECRET).step_at(moment) == (19880899200 + 29) // 30 == 662696640

    @pytest.mark.parametrize(
        "moment",
        [
            dt.datetime(2600, 1, 1, 0, 0, 29, 999999, tzinfo=UTC),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            dt.datetime(2038, 1, 19, 3, 14, 59, 999999, tzinfo=UTC),
            dt.datetime(4000, 6, 1, 5, 30, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        ],
        ids=str,
    )
    def test_aware_datetimes_agree_with_pyotp(self, moment: dt.datetime) -> None:
        """The last microsecond of a step gives the step pyotp computes (it drops the fraction)."""
        peer = pyotp.TOTP(base64.b32encode(b"12345678901234567890").decode())
        assert TOTP(SHA1_SECRET).step_at(moment) == peer.timecode(moment)

    @given(moment=AWARE_DATETIMES, t0=st.integers(0, 2**34), period=st.integers(1, 120))
    def test_aware_datetimes_give_the_step_of_their_whole_second(
        self, moment: dt.datetime, t0: int, period: int
    ) -> None:
        """Any aware datetime, in any UTC offset, floors exactly: floor((t - t0) / period)."""
        otp = TOTP(SHA1_SECRET, period=period, t0=t0)
        whole_seconds = calendar.timegm(moment.astimezone(UTC).timetuple())  # microseconds dropped
        if whole_seconds < t0:
            with pytest.raises(ConfigurationError, match="before t0"):
                otp.step_at(moment)
        else:
            assert otp.step_at(moment) == (whole_seconds - t0) // period
            assert otp.at(moment) == otp.at(whole_seconds)

    @given(step=st.integers(1, 10**9), t0=st.integers(0, 2**31), period=st.integers(1, 120), zone=OFFSETS)
    def test_step_boundaries_to_the_microsecond(
        self, step: int, t0: int, period: int, zone: dt.tzinfo
    ) -> None:
        """One microsecond before a step starts is the previous step; its first microsecond is it."""
        otp = TOTP(SHA1_SECRET, period=period, t0=t0)
        start = (EPOCH + dt.timedelta(seconds=t0 + step * period)).astimezone(zone)
        assert otp.step_at(start) == step
        assert otp.step_at(start - dt.timedelta(microseconds=1)) == step - 1

    def test_naive_datetimes_are_refused(self) -> None:
        """A naive datetime depends on the server's zone, so it is refused."""
        with pytest.raises(ConfigurationError, match="naive"):
            TOTP(SHA1_SECRET).at(dt.datetime(2020, 1, 1))  # noqa: DTZ001

    @pytest.mark.parametrize("t", ["1234567890", True, None, b"59"])
    def test_times_of_the_wrong_type(self, t: object) -> None:
        """Text, bool and None are not times."""
        with pytest.raises(TypeError, match="time must be"):
            TOTP(SHA1_SECRET).at(t)  # type: ignore[arg-type]

    def test_now_reads_the_clock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """now() is at(time.time())."""
        monkeypatch.setattr("totpcore.totp.time.time", lambda: 1111111109.5)
        otp = TOTP(SHA1_SECRET, digits=8)
        assert otp.now() == otp.at(1111111109) == "07081804"


class TestParameters:
    """period and t0 are checked at construction."""

    @pytest.mark.parametrize("period", [0, -30, 121, 3600])
    def test_period_out_of_range(self, period: int) -> None:
        """A period must be 1 to 120 s (NIST SP 800-63B §5.1.4.1: change at least every 2 minutes)."""
        with pytest.raises(ConfigurationError, match="period"):
            TOTP(SHA1_SECRET, period=period)

    @pytest.mark.parametrize("period", [30.0, "30", True])
    def test_period_of_the_wrong_type(self, period: object) -> None:
        """A period is an int number of seconds."""
        with pytest.raises(TypeError, match="period"):
            TOTP(SHA1_SECRET, period=period)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("t0", "error"), [(-1, ConfigurationError), (1.5, TypeError), (2**64, ConfigurationError)]
    )
    def test_bad_t0(self, t0: object, error: type[Exception]) -> None:
        """t0 is a non-negative int."""
        with pytest.raises(error, match="t0"):
            TOTP(SHA1_SECRET, t0=t0)  # type: ignore[arg-type]

    @pytest.mark.parametrize("digits", [5, 9])
    def test_digits(self, digits: int) -> None:
        """5 and 9 digits are refused."""
        with pytest.raises(ConfigurationError, match="digits"):
            TOTP(SHA1_SECRET, digits=digits)

    @pytest.mark.parametrize("algorithm", Algorithm)
    @pytest.mark.parametrize("extra", [-1, 0, 1])
    def test_keys_of_a_block_and_one_byte_more(self, algorithm: Algorithm, extra: int) -> None:
        """RFC 2104 §2 in TOTP's own key setup: a key of one block is padded, one byte more is hashed."""
        key = bytes(range(algorithm.block_size + extra))
        assert TOTP(Secret(key), algorithm=algorithm).at(59) == stdlib_hotp(key, 1, 6, algorithm)

    def test_properties_and_repr(self) -> None:
        """Parameters read back; repr shows them and nothing of the secret."""
        otp = TOTP(SHA1_SECRET, digits=8, period=60, algorithm=Algorithm.SHA256, t0=7)
        assert (otp.digits, otp.period, otp.algorithm, otp.t0) == (8, 60, Algorithm.SHA256, 7)
        assert repr(otp) == "TOTP(digits=8, period=60, algorithm=SHA256, t0=7)"
        assert SHA1_SECRET.to_base32() not in repr(TOTP(SHA1_SECRET))


times = st.one_of(st.integers(min_value=0, max_value=2**40), st.floats(min_value=0, max_value=2**40))


@given(
    key=st.binary(min_size=16, max_size=64),
    t=times,
    digits=st.integers(min_value=6, max_value=8),
    period=st.integers(min_value=1, max_value=120),
    algorithm=st.sampled_from(Algorithm),
)
def test_totp_is_hotp_of_the_step(
    key: bytes, t: float, digits: int, period: int, algorithm: Algorithm
) -> None:
    """TOTP(t) == HOTP(step_at(t)), and step_at is floor((t - t0) / period) (RFC 6238 §4)."""
    otp = TOTP(Secret(key), digits=digits, period=period, algorithm=algorithm)
    step = otp.step_at(t)
    assert step == int(t) // period  # exact for t >= 0, unlike float division
    code = otp.at(t)
    assert code == HOTP(Secret(key), digits=digits, algorithm=algorithm).at(step)
    assert len(code) == digits
    assert code.isascii()
    assert code.isdigit()


@given(
    # Up to 200 bytes: keys longer than a hash block (64 or 128) are hashed first (RFC 2104 §2).
    key=st.binary(min_size=16, max_size=200),
    t=st.integers(min_value=0, max_value=2**35),
    digits=st.integers(min_value=6, max_value=8),
    period=st.integers(min_value=1, max_value=120),
    algorithm=st.sampled_from(Algorithm),
)
@example(key=bytes(range(65)), t=59, digits=6, period=30, algorithm=Algorithm.SHA1)  # one byte over a block
@example(key=bytes(range(129)), t=59, digits=8, period=30, algorithm=Algorithm.SHA512)
def test_matches_pyotp(key: bytes, t: int, digits: int, period: int, algorithm: Algorithm) -> None:
    """Differential test against pyotp for random secrets, times, lengths, periods and hashes."""
    ours = TOTP(Secret(key), digits=digits, period=period, algorithm=algorithm).at(t)
    peer = pyotp.TOTP(Secret(key).to_base32(), digits=digits, interval=period, digest=HASHLIB[algorithm])
    # An aware datetime keeps pyotp off its local-time path (time.mktime).
    assert ours == peer.at(dt.datetime.fromtimestamp(t, dt.timezone.utc))
