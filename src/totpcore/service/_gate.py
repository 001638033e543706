"""The process-wide bound on concurrent Argon2id evaluations (``docs/security.md``, "Guess floods").

One recovery-code check costs one Argon2id evaluation: tens of MiB and tens of
milliseconds of CPU. A flood of guesses spread over many accounts passes every per-user
throttle, so without a bound a server would try to run them all at once, run out of
memory and stall every login. A :class:`KdfGate` admits at most *slots* evaluations at a
time; the rest wait **in arrival order** (first come, first served, whether they wait
in a thread or in an event loop) up to a deadline, and are then refused.

Blocking callers wait on a :class:`threading.Event`; async callers on a future of their
own loop, woken thread-safely, so the event loop is never blocked. A released slot is
handed straight to the oldest waiter. :meth:`KdfGate.run` gives async callers threads
of the gate's own (as many as slots), so Argon2id never runs on the event loop and
never takes a thread that store calls need.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["KdfGate", "gate_for"]

T = TypeVar("T")


class _Waiter:
    """One caller in the queue: a thread's event, or a future in some event loop."""

    __slots__ = ("event", "future", "granted", "loop")

    def __init__(
        self,
        event: threading.Event | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.event = event
        self.loop = loop
        self.future = future
        self.granted = False

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class KdfGate:
    """At most *slots* holders at once; the others wait first in, first out, up to a deadline."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = slots
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
        waiter = _Waiter(event=threading.Event())
        with self._lock:
            if self._take_or_queue(waiter):
                return True
        assert waiter.event is not None  # noqa: S101 - made just above
        return waiter.event.wait(timeout) or self._give_up(waiter)

    async def acquire_async(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for a slot without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = _Waiter(loop=loop, future=future)
        with self._lock:
            if self._take_or_queue(waiter):
                return True
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
            return self._give_up(waiter)
        except asyncio.CancelledError:
            if self._give_up(waiter):
                self.release()
            raise
        return True

    def release(self) -> None:
        """Return a slot: to the oldest waiter if there is one, else to the pool."""
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
                waiter.wake()
            else:
                self._free += 1

    async def run(self, work: Callable[[], T]) -> T:
        """Run *work* (holding a slot) in one of the gate's threads, off the event loop."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="totpcore-kdf")
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, work)


_GATES: dict[int, KdfGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(slots: int) -> KdfGate:
    """The process's gate with *slots* slots (one per distinct bound, shared by every service)."""
    with _GATES_LOCK:
        gate = _GATES.get(slots)
        if gate is None:
            gate = _GATES[slots] = KdfGate(slots)
        return gate
