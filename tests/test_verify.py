"""The drift-tolerant, replay-safe verifier: parsing, windows, drift, replay, resync."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Iterator

import pyotp
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import totpcore._checks
from helpers import record_calls, stdlib_hotp
from totpcore import (
    HOTP,
    TOTP,
    Algorithm,
    ConfigurationError,
    InvalidCode,
    MalformedCode,
    Match,
    ReplayedCode,
    Secret,
    Window,
)
from totpcore.hotp import _KeyedOtp
from totpcore.totp import MAX_RESYNC_CODES

SECRET = Secret(b"12345678901234567890")
T = 1_700_000_010  # step 56_666_667, 10 s into it
NOW = 56_666_667


def oracle(key: bytes, step: int, digits: int = 6) -> str:
    """The SHA-1 code of *step* from the stdlib oracle, independent of totpcore."""
    return stdlib_hotp(key, step, digits, Algorithm.SHA1)


def code(step: int, digits: int = 6) -> str:
    """The code of the test secret at *step*."""
    return oracle(bytes(SECRET), step, digits)


class TestCodeParsing:
    """A code is exactly `digits` ASCII digits after removing spaces."""

    @pytest.mark.parametrize(
        "text",
        [
            "１２３４５６",  # noqa: RUF001  # full-width digits: int() accepts them
            "١٢٣٤٥٦",  # Arabic-Indic digits: str.isdigit() accepts them
            "+123456",
            "-123456",
            "12_3456",  # int() accepts underscores
            "12345",
            "1234567",
            "",
            "      ",
            "123456\n",
            "\t123456",
            "12345a",
            "123-456",
            "²³¹²³¹",  # superscripts are isdigit() too
        ],
    )
    def test_malformed(self, text: str) -> None:
        """Everything but six ASCII digits (and spaces) is MalformedCode, never InvalidCode."""
        with pytest.raises(MalformedCode, match="exactly 6 ASCII digits") as caught:
            TOTP(SECRET).verify(text, at=T)
        assert text.strip() == "" or text not in str(caught.value)

    @pytest.mark.parametrize("value", [123456, 123456.0, b"123456", None, ["123456"]])
    def test_not_a_string(self, value: object) -> None:
        """A non-str code is malformed: an int would lose leading zeros."""
        with pytest.raises(MalformedCode, match="str"):
            TOTP(SECRET).verify(value, at=T)  # type: ignore[arg-type]

    @pytest.mark.parametrize("spaced", ["{} {}", " {}{} ", "{}  {}", "{}{}"])
    def test_spaces_are_ignored(self, spaced: str) -> None:
        """Users paste "123 456"; spaces anywhere are dropped."""
        full = code(NOW)
        assert TOTP(SECRET).verify(spaced.format(full[:3], full[3:]), at=T).step == NOW

    def test_length_follows_digits(self) -> None:
        """An 8-digit verifier wants 8 digits."""
        otp = TOTP(SECRET, digits=8)
        assert otp.verify(code(NOW, 8), at=T).step == NOW
        with pytest.raises(MalformedCode, match="exactly 8"):
            otp.verify(code(NOW), at=T)


class TestWindow:
    """Window(past, future): 0 to 10 steps each way."""

    def test_defaults(self) -> None:
        """One step behind and one ahead, three candidates."""
        assert (Window().past, Window().future, Window().size) == (1, 1, 3)

    @pytest.mark.parametrize(("past", "future"), [(-1, 1), (1, -1), (11, 0), (0, 11)])
    def test_bounds(self, past: int, future: int) -> None:
        """Outside 0 to 10 is a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            Window(past, future)

    @pytest.mark.parametrize(("past", "future"), [(1.0, 1), (1, "1"), (True, 1)])
    def test_types(self, past: object, future: object) -> None:
        """Steps are ints."""
        with pytest.raises(TypeError):
            Window(past, future)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("window", "period", "seconds"),
        [(Window(0, 0), 30, 30), (Window(), 30, 90), (Window(2, 1), 30, 120), (Window(10, 10), 60, 1260)],
    )
    def test_lifetime(self, window: Window, period: int, seconds: int) -> None:
        """A code stays acceptable for (past + 1 + future) * period seconds."""
        assert window.lifetime(period) == seconds

    def test_lifetime_period_is_checked(self) -> None:
        """The period of lifetime() follows TOTP's bounds."""
        with pytest.raises(ConfigurationError, match="period"):
            Window().lifetime(0)

    def test_frozen(self) -> None:
        """A window is a value."""
        with pytest.raises(AttributeError):
            Window().past = 5  # type: ignore[misc]


class TestWindowEdges:
    """Exactly the steps expected - past .. expected + future are accepted."""

    @pytest.mark.parametrize(("past", "future"), [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (3, 5), (10, 10)])
    @pytest.mark.parametrize("drift", [-4, 0, 2])
    def test_edges(self, past: int, future: int, drift: int) -> None:
        """The first and last step of the window match; one beyond either side does not."""
        otp, window = TOTP(SECRET), Window(past, future)
        expected = NOW + drift
        for step in (expected - past, expected + future):
            match = otp.verify(code(step), at=T, window=window, drift=drift)
            assert match == Match(step=step, offset=step - NOW)
        for step in (expected - past - 1, expected + future + 1):
            with pytest.raises(InvalidCode):
                otp.verify(code(step), at=T, window=window, drift=drift)

    def test_offset_is_relative_to_the_clock_not_the_drift(self) -> None:
        """Match.offset = step - step_at(at): the drift to learn, whatever drift was passed."""
        assert TOTP(SECRET).verify(code(NOW + 3), at=T, drift=3).offset == 3

    def test_candidates_are_clamped_at_step_zero(self) -> None:
        """Near t0 the window does not go below step 0 (no negative counter)."""
        otp = TOTP(SECRET)
        assert otp.verify(code(0), at=5, window=Window(3, 0)).step == 0
        assert otp.verify(code(0), at=5, drift=-5, window=Window(0, 10)) == Match(0, 0)

    @pytest.mark.parametrize("at", [60, 120])
    def test_steps_below_the_window_are_not_candidates_near_step_zero(self, at: int) -> None:
        """At steps 2 and 4 the window (1, 1) starts at step 1 and 3: the code of step 0 is refused."""
        with pytest.raises(InvalidCode):
            TOTP(SECRET).verify(code(0), at=at)

    def test_steps_count_from_t0(self) -> None:
        """With t0 = 100, time 130 is step 1 for verify as for step_at."""
        assert TOTP(SECRET, t0=100).verify(code(1), at=130, window=Window(0, 0)) == Match(1, 0)

    def test_candidates_are_clamped_below_two_to_the_64(self) -> None:
        """At the end of the counter space the window stops at 2**64 - 1."""
        otp = TOTP(SECRET, period=1)
        last = 2**64 - 1
        assert otp.verify(code(last), at=last, window=Window(0, 5)).step == last

    def test_uses_the_clock_when_at_is_omitted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """at=None reads time.time() on the server."""
        monkeypatch.setattr("totpcore.totp.time.time", lambda: float(T))
        assert TOTP(SECRET).verify(code(NOW)).step == NOW


class TestArguments:
    """Bad verifier arguments are named."""

    def test_window_type(self) -> None:
        """A tuple is not a Window."""
        with pytest.raises(TypeError, match="Window"):
            TOTP(SECRET).verify(code(NOW), at=T, window=(1, 1))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("drift", "error"), [(1.0, TypeError), ("1", TypeError), (2**64, ConfigurationError)]
    )
    def test_drift(self, drift: object, error: type[Exception]) -> None:
        """Drift is an int number of steps."""
        with pytest.raises(error, match="drift"):
            TOTP(SECRET).verify(code(NOW), at=T, drift=drift)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("last", "error"), [(-1, ConfigurationError), ("5", TypeError), (2**64, ConfigurationError)]
    )
    def test_last_step(self, last: object, error: type[Exception]) -> None:
        """last_step is None or a step."""
        with pytest.raises(error, match="last_step"):
            TOTP(SECRET).verify(code(NOW), at=T, last_step=last)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("at", "t0", "period", "message"),
        [(99, 100, 30, "before t0"), (-1, 0, 30, "before t0"), (2**64, 0, 1, "2\\*\\*64")],
        ids=["before t0", "negative", "step 2**64"],
    )
    def test_int_times_without_a_step(self, at: int, t0: int, period: int, message: str) -> None:
        """An int server time before t0, or whose step needs more than 64 bits, is refused."""
        with pytest.raises(ConfigurationError, match=message):
            TOTP(SECRET, t0=t0, period=period).verify(code(0), at=at)

    def test_naive_datetime(self) -> None:
        """The server time must be unambiguous."""
        with pytest.raises(ConfigurationError, match="naive"):
            TOTP(SECRET).verify(code(NOW), at=dt.datetime(2023, 11, 14, 22, 13, 30))  # noqa: DTZ001


class TestReplay:
    """A step is accepted once (RFC 6238 §5.2, NIST SP 800-63B §5.1.4.2)."""

    def test_same_code_same_step(self) -> None:
        """The second use of a code, in the same step, is ReplayedCode carrying the step."""
        otp = TOTP(SECRET)
        first = otp.verify(code(NOW), at=T)
        with pytest.raises(ReplayedCode) as caught:
            otp.verify(code(NOW), at=T + 5, last_step=first.step)
        assert caught.value.step == NOW
        assert code(NOW) not in str(caught.value)

    def test_earlier_step_after_a_later_one(self) -> None:
        """A still-valid code for step n - 1 is refused once step n was accepted."""
        with pytest.raises(ReplayedCode):
            TOTP(SECRET).verify(code(NOW - 1), at=T, last_step=NOW)

    def test_later_step_is_fresh(self) -> None:
        """The next step's code is accepted after the previous one."""
        assert TOTP(SECRET).verify(code(NOW + 1), at=T, last_step=NOW).step == NOW + 1

    def test_unrelated_code_is_invalid_not_replayed(self) -> None:
        """Replay is only reported for a code that matched."""
        with pytest.raises(InvalidCode):
            TOTP(SECRET).verify(code(NOW + 7), at=T, last_step=NOW)

    def test_replay_is_decided_on_the_matched_step(self) -> None:
        """A code from a phone one step fast is replayed by its step, not by the clock's step."""
        otp = TOTP(SECRET)
        match = otp.verify(code(NOW + 1), at=T)
        assert match.step == NOW + 1
        with pytest.raises(ReplayedCode):  # the clock's own step, now behind the accepted one
            otp.verify(code(NOW), at=T, last_step=match.step)


class TestDriftLearning:
    """The caller learns Match.offset as drift; the window follows the phone."""

    def test_phone_45_then_60_then_90_seconds_fast(self) -> None:
        """Learning each accepted offset keeps a phone whose clock runs away acceptable."""
        otp = TOTP(SECRET)
        drift, last = 0, None
        for server, fast in [(NOW * 30, 45), ((NOW + 100) * 30, 60), ((NOW + 200) * 30, 90)]:
            phone_step = (server + fast) // 30
            match = otp.verify(code(phone_step), at=server, drift=drift, last_step=last)
            assert match.step == phone_step
            drift, last = match.offset, match.step
        assert drift == 3

    def test_without_learning_the_90_second_phone_is_refused(self) -> None:
        """The default window alone refuses a phone three steps fast."""
        server = (NOW + 200) * 30
        with pytest.raises(InvalidCode):
            TOTP(SECRET).verify(code((server + 90) // 30), at=server)


class TestChoice:
    """Which step wins when a collision matches several (docs/verification.md: nearest, earlier on a tie)."""

    def test_nearest_and_earlier_on_a_tie(self) -> None:
        """choose() prefers the nearest step, then the earlier one, among fresh steps."""
        from totpcore.verify import choose  # noqa: PLC0415  # the rule itself

        assert choose([10, 12], expected=11, last_step=None) == 10
        assert choose([9, 12], expected=11, last_step=None) == 12
        assert choose([10, 12], expected=11, last_step=10) == 12
        with pytest.raises(ReplayedCode) as caught:
            choose([8, 10], expected=11, last_step=10)
        assert caught.value.step == 10


class TestConstantTime:
    """Every candidate is computed and compared before anything is decided (VER-7)."""

    @pytest.fixture
    def comparisons(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """Record every code the verifier compares."""
        seen: list[str] = []
        real = hmac.compare_digest

        def counting(a: str, b: str) -> bool:
            seen.append(a)
            return real(a, b)

        monkeypatch.setattr(hmac, "compare_digest", counting)
        return seen

    @pytest.mark.parametrize("matched", [NOW - 2, NOW, NOW + 3, None])
    def test_every_candidate_is_compared(self, comparisons: list[str], matched: int | None) -> None:
        """Whether the first, a middle, the last or no candidate matches, all six are compared."""
        attempt = code(matched) if matched is not None else "000000"
        try:
            TOTP(SECRET).verify(attempt, at=T, window=Window(2, 3))
        except InvalidCode:
            assert matched is None
        assert comparisons == [code(s) for s in range(NOW - 2, NOW + 4)]

    def test_hotp_compares_the_whole_look_ahead(self, comparisons: list[str]) -> None:
        """HOTP.verify compares every counter of the look-ahead, even after a match."""
        assert HOTP(SECRET).verify(code(10), 10, look_ahead=4) == 10
        assert comparisons == [code(c) for c in range(10, 15)]


def _totp_resync(codes: object) -> Match:
    return TOTP(SECRET).resync(codes, at=T)  # type: ignore[arg-type]  # bad input on purpose


def _hotp_resync(codes: object) -> int:
    return HOTP(SECRET).resync(codes, 0)  # type: ignore[arg-type]  # bad input on purpose


RESYNCS = [pytest.param(_totp_resync, id="TOTP"), pytest.param(_hotp_resync, id="HOTP")]


class TestResync:
    """TOTP.resync: consecutive codes within a wide search (RFC 4226 §7.4 over time steps)."""

    @pytest.fixture
    def work(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[object, ...]]]:
        """Record the codes parsed and the HMACs computed."""
        return {
            "parsed": record_calls(monkeypatch, totpcore._checks, "parse_code"),
            "hmac": record_calls(monkeypatch, _KeyedOtp, "_code"),
        }

    @pytest.mark.parametrize("hours", [3, -5, 23.9, -23.9])
    def test_far_off_phone(self, hours: float) -> None:
        """A phone hours off is found from two consecutive codes; offset is its drift."""
        phone = NOW + int(hours * 120)
        match = TOTP(SECRET).resync([code(phone), code(phone + 1)], at=T)
        assert match == Match(step=phone + 1, offset=phone + 1 - NOW)

    def test_three_codes(self) -> None:
        """Longer runs work and return the last step."""
        codes = [code(NOW + 400 + k) for k in range(3)]
        assert TOTP(SECRET).resync(codes, at=T).step == NOW + 402

    def test_beyond_the_search(self) -> None:
        """A phone more than the search away is not found."""
        phone = NOW + 2881
        with pytest.raises(InvalidCode, match="consecutive"):
            TOTP(SECRET).resync([code(phone - 1), code(phone)], at=T)
        assert TOTP(SECRET).resync([code(phone - 1), code(phone)], at=T, search=2881).step == phone

    def test_codes_must_be_consecutive(self) -> None:
        """Two valid codes two steps apart are not a resync."""
        with pytest.raises(InvalidCode, match="consecutive"):
            TOTP(SECRET).resync([code(NOW + 50), code(NOW + 52)], at=T)

    def test_order_matters(self) -> None:
        """Codes must be in the order the phone showed them."""
        with pytest.raises(InvalidCode):
            TOTP(SECRET).resync([code(NOW + 51), code(NOW + 50)], at=T)

    @pytest.mark.parametrize("codes", [[], ["123456"]])
    def test_needs_two_codes(self, codes: list[str]) -> None:
        """One code is an ordinary verification, not a resync."""
        with pytest.raises(InvalidCode, match="at least two"):
            TOTP(SECRET).resync(codes, at=T)

    def test_at_most_ten_codes(self) -> None:
        """A run of MAX_RESYNC_CODES codes is found; one more is malformed."""
        assert MAX_RESYNC_CODES == 10
        run = [code(NOW + 400 + k) for k in range(MAX_RESYNC_CODES + 1)]
        assert TOTP(SECRET).resync(run[:-1], at=T).step == NOW + 409
        assert TOTP(SECRET).resync(tuple(run[1:]), at=T).step == NOW + 410
        with pytest.raises(MalformedCode, match="at most 10"):
            TOTP(SECRET).resync(run, at=T)
        with pytest.raises(MalformedCode, match="at most 10"):
            HOTP(SECRET).resync(run, NOW + 400)

    @pytest.mark.parametrize("resync", RESYNCS)
    def test_too_many_codes_cost_nothing(
        self, resync: Callable[[object], object], work: dict[str, list[tuple[object, ...]]]
    ) -> None:
        """20000 codes are refused before any is parsed or any HMAC computed; 2 cost the search."""
        with pytest.raises(MalformedCode, match="at most 10"):
            resync(["000000"] * 20_000)
        assert work == {"parsed": [], "hmac": []}
        with pytest.raises(InvalidCode):
            resync(["000000"] * 2)
        assert len(work["parsed"]) == 2
        assert work["hmac"]

    @pytest.mark.parametrize(
        "codes",
        [
            "123456654321",
            b"123456654321",
            None,
            123456,
            {"123456", "654321"},
            frozenset({"123456"}),
            {"123456": 1, "654321": 2},
            range(2),
            iter(["123456", "654321"]),
            bytearray(b"123456"),
        ],
        ids=lambda codes: type(codes).__name__,
    )
    @pytest.mark.parametrize("resync", RESYNCS)
    def test_only_a_list_or_tuple(
        self, resync: Callable[[object], object], codes: object, work: dict[str, list[tuple[object, ...]]]
    ) -> None:
        """Anything but a list or tuple is MalformedCode (never TypeError), before any work."""
        with pytest.raises(MalformedCode, match="list or tuple"):
            resync(codes)
        assert work == {"parsed": [], "hmac": []}

    def test_a_generator_is_not_consumed(self) -> None:
        """A generator is refused without being advanced: no element is looked at."""
        pulled: list[str] = []

        def codes() -> Iterator[str]:
            for value in ("123456", "654321"):
                pulled.append(value)
                yield value

        with pytest.raises(MalformedCode, match="list or tuple"):
            TOTP(SECRET).resync(codes(), at=T)  # type: ignore[arg-type]  # bad input on purpose
        assert pulled == []

    def test_malformed_member(self) -> None:
        """Each code is parsed strictly."""
        with pytest.raises(MalformedCode):
            TOTP(SECRET).resync([code(NOW), "12345x"], at=T)

    def test_replay_bound(self) -> None:
        """A run ending at or before the last accepted step is a replay."""
        codes = [code(NOW - 10), code(NOW - 9)]
        with pytest.raises(ReplayedCode):
            TOTP(SECRET).resync(codes, at=T, last_step=NOW)

    @pytest.mark.parametrize("search", [0, 100_001, -1])
    def test_search_bounds(self, search: int) -> None:
        """The search is 1 to 100000 steps."""
        with pytest.raises(ConfigurationError, match="search"):
            TOTP(SECRET).resync([code(NOW), code(NOW + 1)], at=T, search=search)

    def test_default_search_follows_the_period(self) -> None:
        """The default search is 24 h whatever the period: 1440 steps of 60 s."""
        otp = TOTP(SECRET, period=60)
        now = otp.step_at(T)
        assert otp.resync([code(now + 1439), code(now + 1440)], at=T).offset == 1440
        with pytest.raises(InvalidCode):
            otp.resync([code(now + 1440), code(now + 1441)], at=T)

    def test_near_step_zero(self) -> None:
        """The search is clamped at step 0."""
        assert TOTP(SECRET).resync([code(0), code(1)], at=40).step == 1


class TestHotpVerify:
    """HOTP.verify accepts counter .. counter + look_ahead, never behind (RFC 4226 §7.2, E.4)."""

    def test_exact_and_look_ahead(self) -> None:
        """The matched counter is returned; the caller stores it + 1."""
        otp = HOTP(SECRET)
        assert otp.verify(code(5), 5) == 5
        assert otp.verify(code(8), 5, look_ahead=3) == 8
        with pytest.raises(InvalidCode):
            otp.verify(code(9), 5, look_ahead=3)

    def test_never_behind(self) -> None:
        """A code for an earlier counter is refused, whatever the look-ahead."""
        with pytest.raises(InvalidCode):
            HOTP(SECRET).verify(code(4), 5, look_ahead=10)

    def test_end_of_counter_space(self) -> None:
        """The look-ahead stops at 2**64 - 1."""
        last = 2**64 - 1
        assert HOTP(SECRET).verify(code(last), last - 1, look_ahead=5) == last

    @pytest.mark.parametrize("look_ahead", [-1, 1001])
    def test_look_ahead_bounds(self, look_ahead: int) -> None:
        """RFC 4226 §7.4: s as low as possible; at most 1000 here."""
        with pytest.raises(ConfigurationError, match="look_ahead"):
            HOTP(SECRET).verify(code(5), 5, look_ahead=look_ahead)

    def test_malformed(self) -> None:
        """Parsing is the same as for TOTP."""
        with pytest.raises(MalformedCode):
            HOTP(SECRET).verify("１２３４５６", 0)  # noqa: RUF001  # full-width

    def test_resync(self) -> None:
        """Two consecutive codes ahead of the counter give the last one's counter."""
        otp = HOTP(SECRET)
        assert otp.resync([code(60), code(61)], 10) == 61
        with pytest.raises(InvalidCode):
            otp.resync([code(60), code(61)], 10, look_ahead=40)
        with pytest.raises(InvalidCode):
            otp.resync([code(5), code(6)], 10)


@given(
    key=st.binary(min_size=16, max_size=32),
    now=st.integers(min_value=0, max_value=2**36),
    past=st.integers(min_value=0, max_value=10),
    future=st.integers(min_value=0, max_value=10),
    drift=st.integers(min_value=-20, max_value=20),
    delta=st.integers(min_value=-25, max_value=25),
    last_delta=st.one_of(st.none(), st.integers(min_value=-25, max_value=25)),
)
def test_accepted_iff_in_window_and_after_last_step(
    key: bytes, now: int, past: int, future: int, drift: int, delta: int, last_delta: int | None
) -> None:
    """A code for step s is accepted iff s is in [e - past, e + future] and s > last_step.

    Chance collisions (another step in the window with the same code) are computed with
    an independent oracle and the expected outcome follows the documented choice rule;
    they are counted as a Hypothesis event, not hidden.
    """
    expected = now + drift
    step = max(expected + delta, 0)
    last = None if last_delta is None else max(expected + last_delta, 0)
    attempt = oracle(key, step)
    window = range(max(expected - past, 0), expected + future + 1)
    matching = [s for s in window if oracle(key, s) == attempt]
    if matching not in ([], [step]):
        event("chance collision in the window")
    fresh = [s for s in matching if last is None or s > last]
    try:
        match = TOTP(Secret(key), period=1).verify(
            attempt, at=now, window=Window(past, future), drift=drift, last_step=last
        )
    except ReplayedCode:
        assert matching
        assert not fresh
    except InvalidCode:
        assert not matching
    else:
        assert match.step == min(fresh, key=lambda s: (abs(s - expected), s))
        assert match.offset == match.step - now
    if matching in ([], [step]):  # no collision: the plain statement of the property
        accepted = step in window and (last is None or step > last)
        assert accepted == bool(fresh)


@given(
    key=st.binary(min_size=16, max_size=32),
    t=st.integers(min_value=3600, max_value=2**34),
    valid_window=st.integers(min_value=0, max_value=3),
    delta=st.integers(min_value=-5, max_value=5),
)
def test_agrees_with_pyotp_for_symmetric_windows(key: bytes, t: int, valid_window: int, delta: int) -> None:
    """Window(n, n) accepts exactly what pyotp verify(valid_window=n) accepts."""
    ours = TOTP(Secret(key))
    attempt = ours.at(t + 30 * delta)
    peer = pyotp.TOTP(Secret(key).to_base32())
    peer_accepts = peer.verify(
        attempt, for_time=dt.datetime.fromtimestamp(t, dt.timezone.utc), valid_window=valid_window
    )
    try:
        ours.verify(attempt, at=t, window=Window(valid_window, valid_window))
    except InvalidCode:
        assert not peer_accepts
    else:
        assert peer_accepts


@given(
    key=st.binary(min_size=16, max_size=32),
    steps=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12),
)
def test_replay_monotonicity(key: bytes, steps: list[int]) -> None:
    """Feeding accepted steps back as last_step, no step is ever accepted twice or out of order."""
    otp = TOTP(Secret(key), period=1)
    last: int | None = None
    accepted: list[int] = []
    for s in steps:
        try:
            match = otp.verify(oracle(key, s), at=s, window=Window(0, 0), last_step=last)
        except ReplayedCode:
            assert last is not None
            assert s <= last
        else:
            assert last is None or match.step > last
            last = match.step
            accepted.append(match.step)
    assert accepted == sorted(set(accepted))
