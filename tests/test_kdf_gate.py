"""The Argon2id gate: FIFO order, the bound, deadlines, cancellation, and BUSY in both faces (issue 18)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from service_support import CHEAP_KDF, START
from totpcore import TOTP, PolicyError, Secret
from totpcore import recovery as recovery_module
from totpcore.sealing import KeyRing
from totpcore.service import AsyncMfaService, AuditEvent, EventType, MfaService, Outcome, Policy
from totpcore.service import _gate as _gate_module
from totpcore.service._gate import NICE_STEP, KdfGate, Slot, gate_for
from totpcore.store import AsyncStoreAdapter, MemoryStore, Status, UserRecord

#: A patience that never runs out in a passing test; only a broken gate ever waits this long.
LONG = 30.0
#: One slot, and a short wait so a BUSY answer comes at once.
ONE_SLOT = Policy(recovery_kdf=CHEAP_KDF, kdf_concurrency=1, kdf_wait=0.05)


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll *condition* until it holds; fail (never pass) if it does not within LONG seconds."""
    deadline = time.monotonic() + LONG
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.001)


async def await_until(condition: Callable[[], bool]) -> None:
    """:func:`wait_until` for a coroutine: yields to the event loop between polls."""
    deadline = time.monotonic() + LONG
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.001)


def queued(gate: KdfGate, count: int) -> Callable[[], bool]:
    """A condition: exactly *count* callers wait for *gate*."""
    return lambda: gate.waiting == count


def free_slots(gate: KdfGate) -> int:
    """How many slots are free now (taken and given back at once, leaving the gate as it was)."""
    taken = 0
    while gate.acquire(0.001):
        taken += 1
    for _ in range(taken):
        gate.release()
    return taken


def start_thread(target: Callable[[], object]) -> threading.Thread:
    """Start *target* in a daemon thread (a broken gate must not hang the test run)."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def take_in_turn(gate: KdfGate, order: list[str], name: str) -> None:
    """Wait for a slot, note *name*, give the slot back (to the next in line)."""
    assert gate.acquire(LONG)
    order.append(name)
    gate.release()


async def atake_in_turn(gate: KdfGate, order: list[str], name: str) -> None:
    """:func:`take_in_turn` for a task."""
    assert await gate.acquire_async(LONG)
    order.append(name)
    gate.release()


# ---------------------------------------------------------------- order


class TestOrder:
    """First come, first served, whether a caller waits in a thread or in an event loop."""

    def test_threads_are_served_in_arrival_order(self) -> None:
        """Eight threads queued one after another get the slot in that order."""
        gate, order = KdfGate(1), list[str]()
        assert gate.acquire(0.001)
        threads = []
        for k in range(8):
            threads.append(start_thread(functools.partial(take_in_turn, gate, order, f"t{k}")))
            wait_until(queued(gate, k + 1))
        gate.release()
        for thread in threads:
            thread.join(LONG)
        assert order == [f"t{k}" for k in range(8)]
        assert free_slots(gate) == 1

    def test_tasks_are_served_in_arrival_order(self) -> None:
        """Eight asyncio tasks queued one after another get the slot in that order."""
        gate, order = KdfGate(1), list[str]()

        async def main() -> None:
            assert await gate.acquire_async(0.001)
            tasks = []
            for k in range(8):
                tasks.append(asyncio.create_task(atake_in_turn(gate, order, f"a{k}")))
                await await_until(queued(gate, k + 1))
            gate.release()
            await asyncio.gather(*tasks)

        asyncio.run(main())
        assert order == [f"a{k}" for k in range(8)]
        assert free_slots(gate) == 1

    def test_threads_and_tasks_share_one_queue(self) -> None:
        """Threads and tasks queued alternately are served in arrival order, whichever kind."""
        gate, order = KdfGate(1), list[str]()

        async def main() -> None:
            assert gate.acquire(0.001)
            waiters: list[threading.Thread | asyncio.Task[None]] = []
            for k in range(6):
                if k % 2:
                    waiters.append(asyncio.create_task(atake_in_turn(gate, order, f"a{k}")))
                else:
                    waiters.append(start_thread(functools.partial(take_in_turn, gate, order, f"t{k}")))
                await await_until(queued(gate, k + 1))
            gate.release()
            await asyncio.gather(*(w for w in waiters if isinstance(w, asyncio.Task)))
            for waiter in waiters:
                if isinstance(waiter, threading.Thread):
                    waiter.join(LONG)

        asyncio.run(main())
        assert order == ["t0", "a1", "t2", "a3", "t4", "a5"]

    def test_a_newcomer_does_not_overtake_the_queue(self) -> None:
        """A slot given back while someone waits is handed to that waiter, never left for a newcomer."""
        gate, holding, done = KdfGate(1), threading.Event(), threading.Event()

        def waiter() -> None:
            assert gate.acquire(LONG)
            holding.set()
            assert done.wait(LONG)
            gate.release()

        assert gate.acquire(0.001)
        thread = start_thread(waiter)
        wait_until(lambda: gate.waiting == 1)
        gate.release()
        assert gate.acquire(0.01) is False  # the waiter's, whether or not it has woken yet
        assert holding.wait(LONG)
        done.set()
        thread.join(LONG)
        assert free_slots(gate) == 1


# ---------------------------------------------------------------- the bound


class Holders:
    """Counts concurrent holders under a lock; each holds until *go* is set."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.peak = self.done = 0
        self.go = threading.Event()

    def work(self) -> None:
        """Count in, block until released, count out."""
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        assert self.go.wait(LONG)
        with self.lock:
            self.running -= 1
            self.done += 1


class TestBound:
    """At most N holders at once, and N do hold when enough callers want a slot."""

    def test_never_more_than_n_threads_hold_a_slot(self) -> None:
        """20 threads on 3 slots: exactly 3 hold while 17 wait; all finish; never more than 3 at once."""
        gate, holders = KdfGate(3), Holders()

        def client() -> None:
            assert gate.acquire(LONG)
            try:
                holders.work()
            finally:
                gate.release()

        threads = [start_thread(client) for _ in range(20)]
        wait_until(lambda: holders.running == 3 and gate.waiting == 17)
        assert holders.running == 3
        holders.go.set()
        for thread in threads:
            thread.join(LONG)
        assert (holders.peak, holders.done, gate.waiting) == (3, 20, 0)
        assert free_slots(gate) == 3

    def test_never_more_than_n_evaluations_in_the_gate_threads(self) -> None:
        """20 tasks on 3 slots, work run by KdfGate.run: exactly 3 run at once; all finish."""
        gate, holders = KdfGate(3), Holders()

        async def client() -> None:
            slot = Slot(gate)
            slot.held = await gate.acquire_async(LONG)
            assert slot.held
            try:
                await gate.run(holders.work, slot)
            finally:
                slot.release()

        async def main() -> None:
            tasks = [asyncio.create_task(client()) for _ in range(20)]
            await await_until(lambda: holders.running == 3 and gate.waiting == 17)
            assert holders.running == 3
            holders.go.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())
        assert (holders.peak, holders.done, gate.waiting) == (3, 20, 0)
        assert free_slots(gate) == 3

    def test_repr_and_waiting(self) -> None:
        """The repr shows the bound, the free slots and the queue (nothing else to show)."""
        gate = KdfGate(2)
        assert gate.acquire(0.001)
        assert repr(gate) == "KdfGate(slots=2, free=1, waiting=0)"
        gate.release()


# ---------------------------------------------------------------- deadlines


class TestDeadline:
    """A caller past its deadline is refused and leaves the queue; a slot handed over then is kept."""

    def test_a_thread_past_its_deadline_gets_false_and_leaves_the_queue(self) -> None:
        """A full gate: acquire times out with False, the queue is empty again, the slot count intact."""
        gate = KdfGate(1)
        assert gate.acquire(0.001)
        assert gate.acquire(0.01) is False
        assert gate.waiting == 0
        gate.release()  # back to the pool: nobody is waiting for it
        assert free_slots(gate) == 1

    def test_a_task_past_its_deadline_gets_false_and_leaves_the_queue(self) -> None:
        """The same for a task."""
        gate = KdfGate(1)

        async def main() -> bool:
            return await gate.acquire_async(0.01)

        assert gate.acquire(0.001)
        assert asyncio.run(main()) is False
        assert gate.waiting == 0
        gate.release()
        assert free_slots(gate) == 1

    def test_a_slot_handed_to_a_thread_at_its_deadline_is_kept(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The slot arrives after the wait timed out but before the thread left the queue: it keeps it."""
        gate = KdfGate(1)

        class LateEvent(threading.Event):
            def wait(self, timeout: float | None = None) -> bool:  # noqa: ARG002 - Event.wait's own
                gate.release()  # the holder gives the slot back just as the wait times out
                return False

        monkeypatch.setattr(threading, "Event", LateEvent)  # the gate makes one per waiter
        assert gate.acquire(0.001)
        assert gate.acquire(LONG) is True
        monkeypatch.undo()
        assert (gate.waiting, free_slots(gate)) == (0, 0)  # held by the second caller, not lost
        gate.release()
        assert free_slots(gate) == 1

    def test_a_slot_handed_to_a_task_at_its_deadline_is_kept(self) -> None:
        """The slot is handed over just before the task's deadline timer runs: the task keeps it."""
        gate = KdfGate(1)

        async def main() -> bool:
            loop = asyncio.get_running_loop()

            def deadline_at_once(
                _delay: float, expire: Callable[..., object], *args: object
            ) -> asyncio.Handle:
                gate.release()  # the holder gives the slot back ...
                expire(*args)  # ... and the deadline passes before the waiter wakes
                return loop.call_soon(lambda: None)

            loop.call_later = deadline_at_once  # type: ignore[method-assign,assignment]  # this loop only
            return await gate.acquire_async(LONG)

        assert gate.acquire(0.001)
        assert asyncio.run(main()) is True
        assert (gate.waiting, free_slots(gate)) == (0, 0)
        gate.release()
        assert free_slots(gate) == 1


# ---------------------------------------------------------------- cancellation


class TestCancellation:
    """A cancelled task never loses a slot nor keeps one it no longer uses."""

    def test_a_cancelled_waiter_leaves_the_queue(self) -> None:
        """A task cancelled while waiting is removed; the next waiter, not it, gets the slot."""
        gate, order = KdfGate(1), list[str]()

        async def main() -> None:
            assert gate.acquire(0.001)
            doomed = asyncio.create_task(atake_in_turn(gate, order, "doomed"))
            await await_until(lambda: gate.waiting == 1)
            later = asyncio.create_task(atake_in_turn(gate, order, "later"))
            await await_until(lambda: gate.waiting == 2)
            doomed.cancel()
            with pytest.raises(asyncio.CancelledError):
                await doomed
            assert gate.waiting == 1
            gate.release()
            await later

        asyncio.run(main())
        assert order == ["later"]
        assert (gate.waiting, free_slots(gate)) == (0, 1)

    def test_a_waiter_cancelled_after_the_handover_passes_the_slot_on(self) -> None:
        """Cancelled once the slot was handed to it, before it ran: it gives the slot back, cleanly."""
        gate, order, loop_errors = KdfGate(1), list[str](), list[dict[str, object]]()

        async def main() -> None:
            asyncio.get_running_loop().set_exception_handler(lambda _, context: loop_errors.append(context))
            assert gate.acquire(0.001)
            task = asyncio.create_task(atake_in_turn(gate, order, "task"))
            await await_until(queued(gate, 1))
            gate.release()  # granted; the task has not run yet
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0)  # the hand-over's wake-up runs, on a cancelled wait

        asyncio.run(main())
        assert (order, loop_errors) == ([], [])
        assert (gate.waiting, free_slots(gate)) == (0, 1)

    def test_cancelling_a_task_mid_evaluation_keeps_the_slot_until_the_work_ends(self) -> None:
        """A gate thread cannot be stopped: its slot stays taken until the work returns, then comes back."""
        gate, started, finish = KdfGate(1), threading.Event(), threading.Event()

        def work() -> None:
            started.set()
            assert finish.wait(LONG)

        async def evaluate() -> None:
            slot = Slot(gate)
            slot.held = await gate.acquire_async(LONG)
            try:
                await gate.run(work, slot)
            finally:
                slot.release()

        async def main() -> None:
            task = asyncio.create_task(evaluate())
            await await_until(started.is_set)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert free_slots(gate) == 0  # the evaluation still runs, and still counts
            finish.set()
            await await_until(lambda: free_slots(gate) == 1)

        asyncio.run(main())
        assert gate.waiting == 0

    def test_a_slot_not_held_is_not_handed_to_the_work(self) -> None:
        """release_after on a slot that is not held gives nothing back (no slot is made up)."""
        gate = KdfGate(1)
        done: Future[None] = Future()
        Slot(gate).release_after(done)
        done.set_result(None)
        assert free_slots(gate) == 1

    def test_a_waiter_whose_loop_was_closed_is_skipped(self) -> None:
        """A task left queued by a loop closed under it: the slot goes to the next waiter, not lost."""
        gate, order = KdfGate(1), list[str]()
        assert gate.acquire(0.001)
        loop = asyncio.new_event_loop()
        stranded = loop.create_task(gate.acquire_async(LONG))
        loop.run_until_complete(await_until(queued(gate, 1)))
        loop.close()  # without finishing the task: a server killed mid-request
        thread = start_thread(functools.partial(take_in_turn, gate, order, "next"))
        wait_until(queued(gate, 2))
        gate.release()
        thread.join(LONG)
        assert order == ["next"]
        assert (gate.waiting, free_slots(gate)) == (0, 1)
        assert not stranded.done()


# ---------------------------------------------------------------- gates and threads


class TestSharing:
    """One gate per bound, shared by every service; the async face's work runs in the gate's threads."""

    def test_one_gate_per_bound(self) -> None:
        """gate_for gives the same gate for the same bound and another for another bound."""
        assert gate_for(3) is gate_for(3)
        assert gate_for(3) is not gate_for(4)
        assert gate_for(3).slots == 3

    def test_services_with_one_bound_share_its_gate(self) -> None:
        """Both faces, with equal kdf_concurrency, use one gate; the default is the CPU count's gate."""
        keyring = KeyRing.generate()
        policy = Policy(kdf_concurrency=3)
        sync = MfaService(MemoryStore(), issuer="x", keyring=keyring, policy=policy, audit=lambda _: None)
        other = MfaService(MemoryStore(), issuer="y", keyring=keyring, policy=policy, audit=lambda _: None)
        aio = AsyncMfaService(
            AsyncStoreAdapter(MemoryStore()), issuer="x", keyring=keyring, policy=policy, audit=lambda _: None
        )
        default = MfaService(MemoryStore(), issuer="x", keyring=keyring, audit=lambda _: None)
        assert sync._gate is other._gate is aio._gate is gate_for(3)
        assert default._gate is gate_for(Policy().kdf_slots)

    def test_run_uses_the_gates_own_threads(self) -> None:
        """KdfGate.run runs the work in a 'totpcore-kdf' thread, not the loop's, and returns its result."""
        gate = KdfGate(2)

        async def main() -> tuple[str, str]:
            slot = Slot(gate)
            slot.held = await gate.acquire_async(LONG)
            try:
                worker = await gate.run(lambda: threading.current_thread().name, slot)
            finally:
                slot.release()
            return threading.current_thread().name, worker

        loop_thread, worker = asyncio.run(main())
        assert worker.startswith("totpcore-kdf")
        assert worker != loop_thread

    @pytest.mark.skipif(sys.platform != "linux", reason="only Linux gives each thread its own nice value")
    def test_the_gate_threads_yield_the_cpu(self) -> None:
        """The gate threads run NICE_STEP nice steps below the thread that started them; not the caller."""
        gate = KdfGate(1)

        def nice() -> int:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        mine = nice()
        assert gate.call(nice) == min(mine + NICE_STEP, 19)
        assert nice() == mine

    def test_a_refused_priority_change_does_not_break_the_gate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where setting a thread's priority is forbidden, the gate's threads run at their creator's."""

        def forbidden(*_: object) -> None:
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "setpriority", forbidden)
        assert KdfGate(1).call(lambda: "done") == "done"

    def test_run_passes_the_works_exception_on(self) -> None:
        """An exception of the work reaches the awaiting task."""
        gate = KdfGate(1)

        def fail() -> None:
            raise ValueError("boom")

        async def main() -> None:
            await gate.run(fail, Slot(gate))

        with pytest.raises(ValueError, match="boom"):
            asyncio.run(main())


FORKED_CHILD = """
import os, signal, sys
from totpcore.service._gate import gate_for

gate = gate_for(1)
assert gate.call(lambda: "parent") == "parent"  # the gate's thread exists in the parent
assert gate.acquire(0.001)  # and its one slot is held when the process forks
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # a broken gate hangs the child: end it rather than leave it behind
    ok = gate.acquire(1.0) and gate.call(lambda: "child") == "child"
    os._exit(0 if ok else 3)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


class TestFork:
    """A pre-forking server's children do not inherit the parent's threads, holders or lock."""

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
    def test_a_forked_child_starts_with_a_fresh_gate(self) -> None:
        """In a child forked while the parent held the slot, the slot is free and work runs."""
        done = subprocess.run(
            [sys.executable, "-c", FORKED_CHILD], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr

    def test_the_child_hook_frees_every_gate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The after-fork hook, run here: a gate with a slot taken and a waiter comes back fresh."""
        gate = KdfGate(2)
        assert gate.acquire(0.001)
        gate._waiters.append(_gate_module._Waiter(lambda: None))
        monkeypatch.setattr(_gate_module, "_GATES", {2: gate})
        monkeypatch.setattr(_gate_module, "_GATES_LOCK", _gate_module._GATES_LOCK)  # restored after
        _gate_module._after_fork_in_child()
        assert (gate.waiting, free_slots(gate)) == (0, 2)
        assert gate.call(lambda: "fresh") == "fresh"


# ---------------------------------------------------------------- the service, both faces


@dataclasses.dataclass
class Rig:
    """A service of either face over a MemoryStore, called the same way from a test."""

    face: str
    store: MemoryStore
    service: MfaService | AsyncMfaService
    events: list[AuditEvent]
    now: list[float]

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - any service method
        """Call *method* on the service; the async face runs it to completion in a fresh loop."""
        result = getattr(self.service, method)(*args, **kwargs)
        return asyncio.run(result) if self.face == "async" else result

    def enrol(self, user: str) -> tuple[TOTP, list[str]]:
        """Enrol *user*; return the phone and the recovery codes."""
        enrollment = self("begin_enrollment", user, account=user)
        phone = TOTP(Secret.from_base32(enrollment.secret_base32))
        codes = self("confirm_enrollment", user, phone.at(self.now[0]))
        self.now[0] += 30
        return phone, codes

    def record(self, user: str) -> UserRecord:
        """The user's stored record."""
        record = self.store.load(user)
        assert record is not None
        return record


@pytest.fixture(params=["sync", "async"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A service with one KDF slot and a 50 ms wait for it, on each face."""
    store, events, now = MemoryStore(), list[AuditEvent](), [START]
    keyring = KeyRing.generate()
    service: MfaService | AsyncMfaService
    if request.param == "sync":
        service = MfaService(
            store, issuer="gate", keyring=keyring, policy=ONE_SLOT, clock=lambda: now[0], audit=events.append
        )
    else:
        service = AsyncMfaService(
            AsyncStoreAdapter(store),
            issuer="gate",
            keyring=keyring,
            policy=ONE_SLOT,
            clock=lambda: now[0],
            audit=events.append,
        )
    yield Rig(request.param, store, service, events, now)
    assert free_slots(gate_for(1)) == 1, "a test left the shared gate taken"


@contextlib.contextmanager
def gate_full() -> Iterator[None]:
    """Take the one slot of the services' shared gate for the duration."""
    gate = gate_for(1)
    assert gate.acquire(LONG)
    try:
        yield
    finally:
        gate.release()


class TestServiceBusy:
    """Both faces: a full gate refuses Argon2id work as BUSY, changing nothing; app codes pass."""

    def test_recovery_code_when_the_gate_is_full_is_busy_audited_and_not_counted(self, rig: Rig) -> None:
        """BUSY with retry_after = kdf_wait, one audit event, the record untouched; the code works later."""
        _, codes = rig.enrol("alice")
        before = rig.record("alice")
        rig.events.clear()
        with gate_full():
            result = rig("verify", "alice", codes[0])
        assert (result.outcome, result.method, result.retry_after) == (Outcome.BUSY, None, 0.05)
        assert [(e.type, e.user_id, e.outcome) for e in rig.events] == [
            (EventType.LOGIN, "alice", Outcome.BUSY)
        ]
        assert rig.record("alice") == before  # failures, throttle, codes: nothing written
        assert rig("verify", "alice", codes[0]).outcome is Outcome.ACCEPTED

    def test_busy_while_another_users_check_runs(self, rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
        """The slot held by a real recovery-code check (blocked in its KDF): a second user's check is BUSY."""
        _, alice_codes = rig.enrol("alice")
        _, bob_codes = rig.enrol("bob")
        bob_before = rig.record("bob")
        started, finish = threading.Event(), threading.Event()
        real_match = recovery_module.match_code

        def blocking_match(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - match_code's own
            started.set()
            assert finish.wait(LONG)
            return real_match(*args, **kwargs)

        monkeypatch.setattr(recovery_module, "match_code", blocking_match)
        first: list[Outcome] = []
        alice = start_thread(lambda: first.append(rig("verify", "alice", alice_codes[0]).outcome))
        try:
            wait_until(started.is_set)
            assert rig("verify", "bob", bob_codes[0]).outcome is Outcome.BUSY
        finally:
            finish.set()
            alice.join(LONG)
        assert first == [Outcome.ACCEPTED]
        assert rig.record("bob") == bob_before

    def test_confirm_enrollment_when_the_gate_is_full(self, rig: Rig) -> None:
        """PolicyError(BUSY), retry_after; still pending, nothing counted; the same code confirms later."""
        enrollment = rig("begin_enrollment", "carol", account="carol")
        code = TOTP(Secret.from_base32(enrollment.secret_base32)).at(START)
        before = rig.record("carol")
        rig.events.clear()
        with gate_full(), pytest.raises(PolicyError) as caught:
            rig("confirm_enrollment", "carol", code)
        assert (caught.value.outcome, caught.value.retry_after) == (Outcome.BUSY, 0.05)
        assert [(e.type, e.outcome) for e in rig.events] == [(EventType.ENROLLMENT_FAILED, Outcome.BUSY)]
        assert rig.record("carol") == before
        assert len(rig("confirm_enrollment", "carol", code)) == ONE_SLOT.recovery_count
        assert rig.record("carol").status is Status.ENABLED

    def test_regenerate_recovery_codes_when_the_gate_is_full(self, rig: Rig) -> None:
        """PolicyError(BUSY); old set, step and counter unchanged; the same app code works later."""
        phone, codes = rig.enrol("dave")
        before = rig.record("dave")
        rig.events.clear()
        code = phone.at(rig.now[0])
        with gate_full(), pytest.raises(PolicyError) as caught:
            rig("regenerate_recovery_codes", "dave", code)
        assert (caught.value.outcome, caught.value.retry_after) == (Outcome.BUSY, 0.05)
        assert [(e.type, e.outcome) for e in rig.events] == [
            (EventType.RECOVERY_CODES_REGENERATED, Outcome.BUSY)
        ]
        assert rig.record("dave") == before
        fresh = rig("regenerate_recovery_codes", "dave", code)  # the code was not consumed
        assert set(fresh).isdisjoint(codes)

    def test_app_code_login_never_touches_the_gate(self, rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
        """Gate full: an app code is ACCEPTED, malformed input MALFORMED; the gate is never asked."""
        phone, _ = rig.enrol("erin")
        asked: list[str] = []
        with gate_full():
            for name in ("acquire", "acquire_async", "call", "run"):
                monkeypatch.setattr(KdfGate, name, lambda *_, name=name: asked.append(name))
            assert rig("verify", "erin", phone.at(rig.now[0])).outcome is Outcome.ACCEPTED
            rig.now[0] += 30
            assert rig("verify", "erin", "not a code!").outcome is Outcome.MALFORMED
        assert asked == []


class TestOffTheLoop:
    """Argon2id runs in the gate's threads: never on the event loop, and in no more threads than slots."""

    def test_every_evaluation_runs_in_a_gate_thread(self, rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
        """Enrol, recovery login, regenerate: each Argon2id call in a gate thread, not the caller's."""
        derived_in: list[str] = []
        real_derive = recovery_module._derive

        def spy(*args: Any) -> bytes:  # noqa: ANN401 - _derive's own
            derived_in.append(threading.current_thread().name)
            return real_derive(*args)

        monkeypatch.setattr(recovery_module, "_derive", spy)
        phone, codes = rig.enrol("fay")
        assert rig("verify", "fay", codes[0]).ok
        rig.now[0] += 30
        rig("regenerate_recovery_codes", "fay", phone.at(rig.now[0]))
        assert len(derived_in) == 2 * ONE_SLOT.recovery_count + 1
        assert all(name.startswith("totpcore-kdf") for name in derived_in)
        assert threading.current_thread().name not in derived_in  # the caller's, or the loop's
