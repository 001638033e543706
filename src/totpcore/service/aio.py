"""AsyncMfaService: the same MFA flow as coroutines, for asyncio backends (FastAPI, Starlette).

It drives the very flows MfaService drives (``_flow.Core``); only the driver differs:
store calls are awaited (``AsyncPostgresStore`` is asynchronous all the way down; memory
and SQLite run in worker threads of an ``AsyncStoreAdapter``), a slot of the Argon2id
gate is awaited without blocking the loop, and Argon2id runs in the gate's own threads,
so app-code logins never wait behind recovery-code checks. The audit sink may be a
plain callable or a coroutine function.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from totpcore._drive import adrive
from totpcore.sealing import KeyRing
from totpcore.service._face import Face
from totpcore.service._flow import Call, Compute, Flow, Op, Release, Reserve, Slot
from totpcore.service.model import (
    AuditEvent,
    Enrollment,
    KeyRotation,
    LoginResult,
    MfaState,
    Policy,
    Requirement,
)
from totpcore.store.base import AsyncStore, Status

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncMfaService"]

T = TypeVar("T")


class AsyncMfaService(Face):
    """:class:`~totpcore.MfaService` with every method a coroutine, over an async store.

    Build it with :func:`totpcore.open_async_service`, or from parts. Methods, results,
    errors and audit events are those of MfaService, method for method.

    Args:
        store: an :class:`~totpcore.store.AsyncStore` (``AsyncPostgresStore``, or a
            blocking store in an ``AsyncStoreAdapter``). The service owns it.
        issuer, keyring, policy, clock, audit: as MfaService; *audit* may also be a
            coroutine function (it is awaited).

    Raises:
        TypeError, ConfigurationError: bad arguments.
    """

    def __init__(
        self,
        store: AsyncStore,
        *,
        issuer: str,
        keyring: KeyRing,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
        audit: Callable[[AuditEvent], object] | Callable[[AuditEvent], Awaitable[object]] | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(getattr(store, "load", None)):
            raise TypeError("this is a blocking store: use MfaService, or wrap it in AsyncStoreAdapter")
        super().__init__(issuer=issuer, keyring=keyring, policy=policy, clock=clock, audit=audit)
        self._store = store

    def __repr__(self) -> str:
        return f"AsyncMfaService({self._store!r}, issuer={self._core.issuer!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the store. The service is unusable afterwards."""
        await self._store.close()

    async def _run(self, flow: Flow[T]) -> T:
        slot = Slot(self._gate)
        try:
            return await adrive(flow, functools.partial(self._step, slot))
        finally:
            slot.release()

    async def _step(self, slot: Slot, op: Op) -> object:
        """Perform one operation of a flow: awaited store call, gate awaited, Argon2id off the loop."""
        if isinstance(op, Call):
            return await getattr(self._store, op.method)(*op.args, **op.kwargs)
        if isinstance(op, Compute):
            return await self._gate.run(op.work, slot)
        if isinstance(op, Reserve):
            slot.held = await self._gate.acquire_async(self._core.policy.kdf_wait)
            return slot.held
        if isinstance(op, Release):
            slot.release()
        else:
            outcome = self._audit(op.event)
            if inspect.isawaitable(outcome):
                await outcome
        return None

    async def status(self, user_id: str) -> Status:
        """See :meth:`MfaService.status <totpcore.MfaService.status>`."""
        return (await self.state(user_id)).status

    async def requirement(self, user_id: str) -> Requirement:
        """See :meth:`MfaService.requirement <totpcore.MfaService.requirement>`."""
        return (await self.state(user_id)).requirement

    async def state(self, user_id: str) -> MfaState:
        """See :meth:`MfaService.state <totpcore.MfaService.state>`."""
        return await self._run(self._core.state(user_id))

    async def begin_enrollment(self, user_id: str, *, account: str) -> Enrollment:
        """See :meth:`MfaService.begin_enrollment <totpcore.MfaService.begin_enrollment>`."""
        return await self._run(self._core.begin_enrollment(user_id, account))

    async def confirm_enrollment(self, user_id: str, code: str) -> list[str]:
        """See :meth:`MfaService.confirm_enrollment <totpcore.MfaService.confirm_enrollment>`."""
        return await self._run(self._core.confirm_enrollment(user_id, code))

    async def verify(self, user_id: str, code: str) -> LoginResult:
        """See :meth:`MfaService.verify <totpcore.MfaService.verify>`."""
        return await self._run(self._core.verify(user_id, code))

    async def resync(self, user_id: str, codes: list[str] | tuple[str, ...]) -> LoginResult:
        """See :meth:`MfaService.resync <totpcore.MfaService.resync>`."""
        return await self._run(self._core.resync(user_id, codes))

    async def regenerate_recovery_codes(self, user_id: str, code: str) -> list[str]:
        """See :meth:`totpcore.MfaService.regenerate_recovery_codes`."""
        return await self._run(self._core.regenerate_recovery_codes(user_id, code))

    async def reset(self, user_id: str, *, actor: str, reason: str) -> None:
        """See :meth:`MfaService.reset <totpcore.MfaService.reset>`."""
        await self._run(self._core.reset(user_id, actor, reason))

    async def disable(self, user_id: str) -> NoReturn:
        """See :meth:`MfaService.disable <totpcore.MfaService.disable>`."""
        await self._run(self._core.disable(user_id))
        raise AssertionError  # pragma: no cover - the flow always raises

    async def rotate_keys(self) -> KeyRotation:
        """See :meth:`MfaService.rotate_keys <totpcore.MfaService.rotate_keys>`."""
        return await self._run(self._core.rotate_keys())
