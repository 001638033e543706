"""The process-wide bound on concurrent Argon2id evaluations (``docs/security.md``, "Guess floods").

One recovery-code check costs one Argon2id evaluation: tens of MiB and tens of
milliseconds of CPU. A flood of guesses spread over many accounts passes every per-user
throttle, so without a bound a server would try to run them all at once, run out of
memory and stall every login. A :class:`KdfGate` admits at most *slots* evaluations at a
time; the rest wait **in arrival order** (first come, first served, whether they wait
in a thread or in an event loop) up to a deadline, and are then refused.

Blocking callers wait on a :class:`threading.Event`; async callers on a future of their
own loop, woken thread-safely, so the event loop is never blocked. A released slot is
handed straight to the oldest waiter. Admitted work runs in threads of the gate's own
(as many as slots), :meth:`KdfGate.call` for blocking callers and :meth:`KdfGate.run` for
async ones: Argon2id never runs on an event loop, never takes a thread that store calls
need, allocates its memory in no more than *slots* threads, and (on Linux) runs at a lower
CPU priority than the threads that handle requests. A thread cannot be stopped: when the task
awaiting an evaluation is cancelled (a client that hangs up), its slot stays taken until
the evaluation ends, so the bound counts every evaluation that is still running. A
forked child starts with fresh gates.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = ["KdfGate", "Slot", "gate_for"]

T = TypeVar("T")

#: How much lower the CPU priority of the gate's threads is than their creator's (nice steps).
NICE_STEP = 10


def _yield_cpu() -> None:
    """Lower the calling thread's CPU priority by NICE_STEP (Linux: the nice value is per thread).

    With N = the CPU count, a flood keeps every core busy with Argon2id; at a lower priority
    those threads give the CPU up at once to request handling (an event loop, store calls,
    app-code logins), which then does not queue behind recovery-code checks.
    """
    tid = threading.get_native_id()
    # Best effort: where a sandbox forbids it, the thread keeps its creator's priority (an
    # initializer that raised would break the executor, and every recovery-code check with it).
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + NICE_STEP, 19))


#: Only Linux gives each thread its own nice value; elsewhere the threads keep their creator's.
_INITIALIZER = _yield_cpu if sys.platform == "linux" else None


class _Waiter:
    """One caller in the queue, and how to wake it: set a thread's event, or resolve a future in its loop."""

    __slots__ = ("granted", "wake")

    def __init__(self, wake: Callable[[], object]) -> None:
        self.wake = wake
        self.granted = False


def _settle(future: asyncio.Future[bool], granted: bool) -> None:
    """Resolve an async waiter's future, unless its task was cancelled meanwhile."""
    if not future.done():
        future.set_result(granted)


class KdfGate:
    """At most *slots* holders at once; the others wait first in, first out, up to a deadline."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._fresh()

    def _fresh(self) -> None:
        """All slots free, nobody waiting, no threads yet (also a forked child's start)."""
        self._free = self.slots
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"KdfGate(slots={self.slots}, free={self._free}, waiting={len(self._waiters)})"

    @property
    def waiting(self) -> int:
        """How many callers wait for a slot now."""
        return len(self._waiters)

    def _take_or_queue(self, waiter: _Waiter) -> bool:
        """Take a free slot at once (nobody waits before us), or join the queue. Lock held."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        self._waiters.append(waiter)
        return False

    def _give_up(self, waiter: _Waiter) -> bool:
        """Leave the queue after a timeout; ``True`` if a slot was handed over meanwhile (keep it)."""
        with self._lock:
            if waiter.granted:
                return True
            self._waiters.remove(waiter)
            return False

    def acquire(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for a slot (blocking); whether one was taken."""
        event = threading.Event()
        waiter = _Waiter(event.set)
        with self._lock:
            if self._take_or_queue(waiter):
                return True
        return event.wait(timeout) or self._give_up(waiter)

    async def acquire_async(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for a slot without blocking the event loop.

        One future and one timer per waiter, no task and no exception on the way: when a
        flood's waiters reach their deadline together, each costs the loop little.
        """
        import asyncio  # noqa: PLC0415 - only the async face pays for loading asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        # call_soon_threadsafe passes positional arguments only.
        waiter = _Waiter(functools.partial(loop.call_soon_threadsafe, _settle, future, True))  # noqa: FBT003
        with self._lock:
            if self._take_or_queue(waiter):
                return True
        deadline = loop.call_later(timeout, self._expire, waiter, future)
        try:
            return await future
        except asyncio.CancelledError:
            if self._give_up(waiter):
                self.release()  # handed over meanwhile: pass it on
            raise
        finally:
            deadline.cancel()

    def _expire(self, waiter: _Waiter, future: asyncio.Future[bool]) -> None:
        """At an async waiter's deadline, in its loop: refuse it, unless a slot was handed over meanwhile."""
        if not self._give_up(waiter):
            _settle(future, granted=False)

    def release(self) -> None:
        """Return a slot: to the oldest waiter if there is one, else to the pool."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
                try:
                    waiter.wake()
                except RuntimeError:  # its event loop was closed under it: nobody is left to wake
                    continue
                return
            self._free += 1

    def _submit(self, work: Callable[[], T]) -> Future[T]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.slots, thread_name_prefix="totpcore-kdf", initializer=_INITIALIZER
                )
            return self._executor.submit(work)

    def call(self, work: Callable[[], T]) -> T:
        """Run *work* (under a held slot) in one of the gate's threads; wait for its result.

        Argon2id allocates its memory in the thread that runs it, and glibc keeps a freed
        block in the arena of that thread: run in the callers' threads, a flood across
        hundreds of threads would leave about the KDF's memory in every arena (up to 8 per
        core). In the gate's *slots* threads, memory stays near *slots* times the KDF's.
        """
        return self._submit(work).result()

    async def run(self, work: Callable[[], T], slot: Slot) -> T:
        """:meth:`call` for the event loop: awaited, so the loop never runs or waits for *work*.

        If the awaiting task is cancelled, *work* runs on (a thread cannot be stopped)
        and *slot* is given back only when it ends.
        """
        import asyncio  # noqa: PLC0415

        running = self._submit(work)
        try:
            return await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            slot.release_after(running)
            raise


class Slot:
    """A flow's hold on a slot of *gate*; released at the latest when the flow ends."""

    __slots__ = ("gate", "held")

    def __init__(self, gate: KdfGate) -> None:
        self.gate = gate
        self.held = False

    def release(self) -> None:
        """Give the slot back, if held."""
        if self.held:
            self.held = False
            self.gate.release()

    def release_after(self, running: Future[T]) -> None:
        """Hand the slot, if held, to *running*: it is given back when that work ends."""
        if self.held:
            self.held = False
            running.add_done_callback(lambda _: self.gate.release())


_GATES: dict[int, KdfGate] = {}
_GATES_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child (a pre-forking app server) starts with fresh gates.

    Only the forking thread survives a fork: the parent's gate threads, the holders of
    its slots and its waiters are gone, and a lock held at that moment stays held. Each
    gate (services keep a reference to theirs) starts again with every slot free.
    """
    global _GATES_LOCK  # noqa: PLW0603 - replaced, not mutated: the parent's may be held
    _GATES_LOCK = threading.Lock()
    for gate in _GATES.values():
        gate._fresh()  # noqa: SLF001 - this module's own


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def gate_for(slots: int) -> KdfGate:
    """The process's gate with *slots* slots (one per distinct bound, shared by every service)."""
    with _GATES_LOCK:
        gate = _GATES.get(slots)
        if gate is None:
            gate = _GATES[slots] = KdfGate(slots)
        return gate
