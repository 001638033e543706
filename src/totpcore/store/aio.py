"""AsyncStoreAdapter: the async face of a blocking store, one worker thread per call.

For stores without an async driver (MemoryStore, SQLiteStore): each call runs in a
thread pool of the adapter's own, so the event loop never blocks on a lock or a disk
write, and store calls never queue behind other work (the service's Argon2id
evaluations have their own threads). :class:`~totpcore.store.AsyncPostgresStore` is
asynchronous all the way down and needs no adapter.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, ParamSpec, TypeVar

from totpcore._checks import check_int
from totpcore.errors import StoreError
from totpcore.store.base import Claim, Status, Store, UserRecord
from totpcore.throttle import Throttle

__all__ = ["DEFAULT_WORKERS", "AsyncStoreAdapter"]

P = ParamSpec("P")
T = TypeVar("T")

#: Threads per adapter: SQLite has one writer at a time, so more would only wait.
DEFAULT_WORKERS: Final = 8


class AsyncStoreAdapter:
    """An :class:`~totpcore.store.AsyncStore` over a blocking :class:`~totpcore.store.Store`.

    Args:
        store: the blocking store; the adapter owns it (``close`` closes it).
        workers: threads running store calls (1 to 64).

    Raises:
        TypeError, ConfigurationError: *workers* is not an int from 1 to 64.
    """

    def __init__(self, store: Store, *, workers: int = DEFAULT_WORKERS) -> None:
        check_int("workers", workers, 1, 64)
        self.store = store
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="totpcore-store")
        self._closed = False

    def __repr__(self) -> str:
        return f"AsyncStoreAdapter({self.store!r})"

    async def _call(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(method, *args, **kwargs))

    async def create_schema(self) -> None:
        """See :meth:`~totpcore.store.Store.create_schema`."""
        await self._call(self.store.create_schema)

    async def load(self, user_id: str) -> UserRecord | None:
        """See :meth:`~totpcore.store.Store.load`."""
        return await self._call(self.store.load, user_id)

    async def begin(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        sealed_secret: bytes,
        key_id: str,
        digits: int,
        period: int,
        algorithm: str,
        now: float,
    ) -> bool:
        """See :meth:`~totpcore.store.Store.begin`."""
        return await self._call(
            self.store.begin,
            user_id,
            enrollment_id=enrollment_id,
            sealed_secret=sealed_secret,
            key_id=key_id,
            digits=digits,
            period=period,
            algorithm=algorithm,
            now=now,
        )

    async def activate(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """See :meth:`~totpcore.store.Store.activate`."""
        return await self._call(
            self.store.activate,
            user_id,
            enrollment_id=enrollment_id,
            step=step,
            recovery_params=recovery_params,
            digests=digests,
            now=now,
        )

    async def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None = None,
    ) -> Claim:
        """See :meth:`~totpcore.store.Store.claim_attempt`."""
        return await self._call(
            self.store.claim_attempt, user_id, status=status, now=now, throttle=throttle, check=check
        )

    async def lock_if_exhausted(
        self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float
    ) -> bool:
        """See :meth:`~totpcore.store.Store.lock_if_exhausted`."""
        return await self._call(
            self.store.lock_if_exhausted, user_id, enrollment_id=enrollment_id, throttle=throttle, now=now
        )

    async def accept_step(
        self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float
    ) -> bool:
        """See :meth:`~totpcore.store.Store.accept_step`."""
        return await self._call(
            self.store.accept_step, user_id, enrollment_id=enrollment_id, step=step, drift=drift, now=now
        )

    async def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> int | None:
        """See :meth:`~totpcore.store.Store.consume_recovery`."""
        return await self._call(
            self.store.consume_recovery,
            user_id,
            enrollment_id=enrollment_id,
            index=index,
            digest=digest,
            now=now,
        )

    async def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """See :meth:`~totpcore.store.Store.replace_recovery`."""
        return await self._call(
            self.store.replace_recovery,
            user_id,
            enrollment_id=enrollment_id,
            recovery_params=recovery_params,
            digests=digests,
            now=now,
        )

    async def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """See :meth:`~totpcore.store.Store.reseal`."""
        return await self._call(self.store.reseal, user_id, old=old, new=new, key_id=key_id, now=now)

    async def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> bool:
        """See :meth:`~totpcore.store.Store.reseal_recovery`."""
        return await self._call(
            self.store.reseal_recovery,
            user_id,
            old_params=old_params,
            new_params=new_params,
            digests=digests,
            now=now,
        )

    async def stale_keys(self, current_key_id: str) -> list[str]:
        """See :meth:`~totpcore.store.Store.stale_keys`."""
        return await self._call(self.store.stale_keys, current_key_id)

    async def reset(self, user_id: str) -> bool:
        """See :meth:`~totpcore.store.Store.reset`."""
        return await self._call(self.store.reset, user_id)

    async def close(self) -> None:
        """Close the blocking store and stop the threads. The store is unusable afterwards."""
        if self._closed:
            return
        try:
            await self._call(self.store.close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)
