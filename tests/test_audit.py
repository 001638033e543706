"""The audit trail cannot be forged, and no reset goes unaudited (issue 14 part 3)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service_support import CHEAP_KDF, RING, START, Clock, enrol
from store_support import Backend
from totpcore.service import AuditEvent, EventType, Method, MfaService, Outcome, Policy
from totpcore.store import Status, Store

POLICY = Policy(recovery_kdf=CHEAP_KDF)
FORGED = "\nlogin user=alice outcome=accepted"
#: What each escape in a quoted value stands for.
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
HEX_WIDTH = {"x": 2, "u": 4, "U": 8}


def parse_logfmt(line: str) -> tuple[str, dict[str, str]]:
    r"""Read a describe() line back: the event type and every ``key=value`` field, unescaped.

    Written from the format's rules (bare or double-quoted values; ``\n``, ``\r``,
    ``\t``, ``\"``, ``\\``, ``\xHH``, ``\uHHHH`` and ``\UHHHHHHHH`` inside quotes),
    not from the code under test. Fails on anything else.
    """
    kind, _, rest = line.partition(" ")
    fields: dict[str, str] = {}
    i = 0
    while i < len(rest):
        equals = rest.index("=", i)
        key = rest[i:equals]
        assert key.isidentifier(), key
        assert key not in fields, key
        i = equals + 1
        value: list[str] = []
        if rest[i] == '"':
            i += 1
            while rest[i] != '"':
                if rest[i] == "\\":
                    escape = rest[i + 1]
                    if escape in HEX_WIDTH:
                        width = HEX_WIDTH[escape]
                        value.append(chr(int(rest[i + 2 : i + 2 + width], 16)))
                        i += 2 + width
                    else:
                        value.append(ESCAPES[escape])
                        i += 2
                else:
                    value.append(rest[i])
                    i += 1
            i += 1
        else:
            end = rest.find(" ", i)
            end = len(rest) if end < 0 else end
            value.append(rest[i:end])
            assert not set(value[0]) & set('"=\\'), value[0]
            i = end
        fields[key] = "".join(value)
        if i < len(rest):
            assert rest[i] == " "
            i += 1
    return kind, fields


def expected_fields(event: AuditEvent) -> dict[str, str]:
    """The fields describe() must show: each one that is set, as text."""
    shown: dict[str, str] = {"user": event.user_id}
    for name in ("outcome", "method", "offset", "recovery_codes_left", "actor", "reason"):
        value = getattr(event, name)
        if value is not None:
            shown[name] = value.value if isinstance(value, Outcome | Method) else str(value)
    return shown


#: Any text at all, lone surrogates included, weighted towards what forges log lines.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=())),
    st.text(
        st.sampled_from(
            ["\n", "\r", "\t", " ", '"', "=", "\\", "\u2028", "\u202e", "\x1b", "\x00", "\x85", "a"]
        )
    ),
)


class TestDescribe:
    """AuditEvent.describe() is one line whose fields read back exactly."""

    @given(
        kind=st.sampled_from(EventType),
        user_id=TEXT,
        outcome=st.none() | st.sampled_from(Outcome),
        method=st.none() | st.sampled_from(Method),
        offset=st.none() | st.integers(-(2**64), 2**64),
        left=st.none() | st.integers(0, 20),
        actor=st.none() | TEXT,
        reason=st.none() | TEXT,
    )
    def test_one_line_that_parses_back(
        self,
        kind: EventType,
        user_id: str,
        outcome: Outcome | None,
        method: Method | None,
        offset: int | None,
        left: int | None,
        actor: str | None,
        reason: str | None,
    ) -> None:
        """No line break no raw control, format or separator character; exactly the fields set."""
        event = AuditEvent(kind, user_id, START, outcome, method, offset, left, actor, reason)
        line = event.describe()
        assert line.splitlines() == [line]
        assert all(char == " " or unicodedata.category(char)[0] not in "CZ" for char in line)
        assert parse_logfmt(line) == (kind.value, expected_fields(event))

    @pytest.mark.parametrize(
        ("user_id", "reason", "line"),
        [
            ("alice", None, "login user=alice outcome=invalid"),
            (
                "mallory" + FORGED,
                None,
                'login user="mallory\\nlogin user=alice outcome=accepted" outcome=invalid',
            ),
            ("bob", FORGED, 'login user=bob outcome=invalid reason="\\nlogin user=alice outcome=accepted"'),
            ("\u202eecila", None, 'login user="\\u202eecila" outcome=invalid'),
            ('say "hi"', "a=b\\c", 'login user="say \\"hi\\"" outcome=invalid reason="a=b\\\\c"'),
            ("", "\u2028\x00\U000e0001", 'login user="" outcome=invalid reason="\\u2028\\x00\\U000e0001"'),
        ],
    )
    def test_examples(self, user_id: str, reason: str | None, line: str) -> None:
        """A forged line, a bidi override, quotes, equals signs and backslashes, written out."""
        assert AuditEvent(EventType.LOGIN, user_id, START, Outcome.INVALID, reason=reason).describe() == line


@pytest.fixture
def enrolled(backend: Backend) -> Iterator[Store]:
    """A store with alice enrolled."""
    store = backend.open()
    service = MfaService(store, issuer="EMR", keyring=RING, policy=POLICY, clock=lambda: START, audit=print)
    enrol(service, Clock(START))
    yield store
    store.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"], indirect=True)
class TestReset:
    """A reset is audited before anything changes."""

    def test_failing_sink_changes_nothing(self, enrolled: Store) -> None:
        """A sink that raises stops the reset: the caller sees its error and the record is intact."""
        before = enrolled.load("alice")

        def refuse(event: AuditEvent) -> None:
            raise OSError(f"audit log full ({event.type.value})")

        service = MfaService(enrolled, issuer="EMR", keyring=RING, policy=POLICY, audit=refuse)
        with pytest.raises(OSError, match="audit log full"):
            service.reset("alice", actor="support:zoe", reason="lost phone")
        assert enrolled.load("alice") == before
        assert service.status("alice") is Status.ENABLED

    def test_event_comes_before_the_wipe(self, enrolled: Store) -> None:
        """When the sink receives the RESET event, the record is still there; afterwards it is gone."""
        present: list[bool] = []
        service = MfaService(
            enrolled,
            issuer="EMR",
            keyring=RING,
            policy=POLICY,
            audit=lambda event: present.append(enrolled.load(event.user_id) is not None),
        )
        service.reset("alice", actor="support:zoe", reason="lost phone")
        assert present == [True]
        assert enrolled.load("alice") is None

    def test_reset_without_record_says_so(self, enrolled: Store) -> None:
        """A reset of a user with no record is audited with outcome NOT_ENROLLED; with a record, none."""
        events: list[AuditEvent] = []
        service = MfaService(enrolled, issuer="EMR", keyring=RING, policy=POLICY, audit=events.append)
        service.reset("nobody", actor="support:zoe", reason="ticket 7")
        service.reset("alice", actor="support:zoe", reason="ticket 8")
        assert [(e.type, e.user_id, e.outcome) for e in events] == [
            (EventType.RESET, "nobody", Outcome.NOT_ENROLLED),
            (EventType.RESET, "alice", None),
        ]
        assert events[0].describe().startswith("reset user=nobody outcome=not_enrolled actor=support:zoe")
