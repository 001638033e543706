"""A writer killed with SIGKILL mid-run leaves a consistent database and loses no accepted step."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time

import pytest

from store_support import CONFIRM_STEP, DIGESTS, EID, Backend, enroll, generation, writer_child
from totpcore.store import Status, Store

KILLS = 5
#: Reports to wait for before each kill: random, so the kill lands at different points.
REPORTS = (20, 200)
TIMEOUT = 60.0

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)


def run_and_kill(backend: Backend, wanted: int) -> tuple[int, int]:
    """Start the writer, SIGKILL it once it reported step *wanted*; (last step reported, reports)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=writer_child, args=(backend, "alice", send))
    child.start()
    send.close()
    reported = count = 0
    deadline = time.monotonic() + TIMEOUT
    try:
        while reported < wanted:
            assert time.monotonic() < deadline, "the writer made no progress"
            if receive.poll(1.0):
                reported = receive.recv()
                count += 1
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(TIMEOUT)
        # Reports already in the pipe were sent after a success: they count too.
        while receive.poll(0):
            try:
                reported = receive.recv()
                count += 1
            except EOFError:
                break
    finally:
        if child.is_alive():  # pragma: no cover - only when an assertion above failed
            child.kill()
            child.join()
    assert child.exitcode == -signal.SIGKILL
    return reported, count


def test_sigkill_loses_nothing(backend: Backend, store: Store) -> None:
    """Kill, reopen, check: last_step covers every report, the recovery set is whole."""
    enroll(store)
    rng = random.Random(6)  # noqa: S311 - picks kill points, not secrets
    floor = CONFIRM_STEP
    for _ in range(KILLS):
        store.close()
        wanted = rng.randint(*REPORTS)
        reported, count = run_and_kill(backend, floor + wanted)
        assert count >= wanted
        store = backend.open(create=False)
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.ENABLED
        assert record.last_step is not None
        assert record.last_step >= reported >= floor + wanted
        # replace_recovery is one transaction: the set is one generation, never a mix.
        indexes = [index for index, _ in record.recovery]
        assert indexes == [0, 1, 2, 3, 4]
        assert record.recovery_params is not None
        if record.recovery_params == "$test$":  # pragma: no cover - killed before the first replace
            assert [digest for _, digest in record.recovery] == list(DIGESTS)
        else:
            gen = int(record.recovery_params.removeprefix("gen-"))
            assert [digest for _, digest in record.recovery] == generation(gen)
        assert store.accept_step("alice", enrollment_id=EID, step=record.last_step + 1, drift=0, now=1.0)
        floor = record.last_step + 1
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.target) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
