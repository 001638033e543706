"""Timing helpers shared by the benchmark sections.

Each comparison times totpcore and a peer in the same process, interleaving rounds
(ours, peer, ours, peer, ...) so that a burst of load on a shared machine hits both.
Rounds are short (about :data:`ROUND` seconds of ours) and many, and each side is
scored by a low percentile of its rounds (:func:`settled`): a round that another
process cut into is slow and falls above it, while the single fastest round, which
the first version of this harness kept, moved by several per cent from run to run on
a loaded machine. With fewer than ten rounds the score is the fastest round.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg_cluster import PgCluster, PgUnavailableError

#: The concurrent clients of the PostgreSQL sections, and how long any of them may wait.
CLIENTS = 8
TIMEOUT = 120.0
#: The length of one timed round of the micro-benchmarks, in seconds.
ROUND = 0.001


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report: a totpcore operation, optionally against a peer."""

    operation: str
    ours_us: float
    peer: str = ""
    peer_us: float | None = None
    target: float | None = None  # the ratio peer/ours the issue asks for
    unit: str = "us/op"

    @property
    def ratio(self) -> float | None:
        """How many times faster totpcore is (peer time / our time)."""
        return None if self.peer_us is None else self.peer_us / self.ours_us

    @property
    def met(self) -> bool | None:
        """Whether the ratio reaches the target, when there is one."""
        if self.target is None or self.ratio is None:
            return None
        return self.ratio >= self.target


def per_op(fn: Callable[[], object], number: int) -> float:
    """Microseconds per call of *fn*, one round of *number* calls."""
    return timeit.timeit(fn, number=number) / number * 1e6


def calls_per_round(fn: Callable[[], object]) -> int:
    """How many calls of *fn* make one round of about :data:`ROUND` seconds."""
    cost = min(timeit.timeit(fn, number=100) for _ in range(3)) / 100
    return max(1, round(ROUND / cost))


def micro_rounds(scale: float) -> int:
    """How many rounds a micro-benchmark section times: 400 at full scale, never under 40."""
    return max(int(400 * scale), 40)


def compare(
    operation: str,
    ours: Callable[[], object],
    peer: str,
    theirs: Callable[[], object],
    *,
    target: float | None,
    rounds: int,
    number: int | None = None,
) -> Row:
    """Time *ours* and *theirs* in interleaved rounds; score each with :func:`settled`.

    *number* calls per round; by default each side gets the number that makes one of
    its rounds last about :data:`ROUND` seconds, so that both sides' rounds are equally
    likely to be cut by another process.
    """
    n_ours = number if number is not None else calls_per_round(ours)
    n_theirs = number if number is not None else calls_per_round(theirs)
    times_ours, times_theirs = [], []
    for _ in range(rounds):
        times_ours.append(per_op(ours, n_ours))
        times_theirs.append(per_op(theirs, n_theirs))
    return Row(operation, settled(times_ours), peer, settled(times_theirs), target)


def settled(times: list[float]) -> float:
    """The 10th percentile of *times* (the fastest, with fewer than ten)."""
    return sorted(times)[len(times) // 10]


def alone(operation: str, ours: Callable[[], object], *, number: int, rounds: int) -> Row:
    """Time a totpcore operation that has no peer."""
    return Row(operation, settled([per_op(ours, number) for _ in range(rounds)]))


def threaded(clients: int, setup: Callable[[int], object], work: Callable[[int], object]) -> float:
    """Seconds for *clients* threads to run ``work(k)``, all released at once.

    Each thread runs ``setup(k)`` (say, opening its connection) before the clock starts.
    """
    barrier = threading.Barrier(clients + 1, timeout=TIMEOUT)

    def client(k: int) -> None:
        setup(k)
        barrier.wait()
        work(k)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """A throwaway PostgreSQL cluster (fsync on) for one section; None if there is no server."""
    try:
        cluster = PgCluster.start(fsync=True)
    except PgUnavailableError as exc:
        print(f"PostgreSQL skipped: {exc}")
        yield None
        return
    try:
        yield cluster.dsn
    finally:
        cluster.stop()
