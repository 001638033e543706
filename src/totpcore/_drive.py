"""Run a generator that yields requests and receives their results: the one driver loop.

The service writes each flow once as a generator of operations (``service/_flow.py``),
and the SQL stores each operation once as a generator of statements
(``store/_sqlstore.py``); the blocking and the async faces differ only in how they
perform one request, which they pass in as *step*. ``docs/design.md`` explains the split.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["adrive", "drive"]

R = TypeVar("R")
T = TypeVar("T")


def drive(gen: Generator[R, Any, T], step: Callable[[R], object]) -> T:
    """Run *gen* to its end, performing each request it yields with *step* (blocking).

    The result of *step* is sent back into *gen*; an exception it raises is thrown into
    *gen* at its ``yield``, which handles it or lets it propagate out of here. Returns
    what *gen* returns.
    """
    try:
        request = next(gen)
        while True:
            try:
                value = step(request)
            except Exception as exc:  # noqa: BLE001, PERF203 - thrown into the generator, which decides
                request = gen.throw(exc)
            else:
                request = gen.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]  # the generator's declared result


async def adrive(gen: Generator[R, Any, T], step: Callable[[R], Awaitable[object]]) -> T:
    """:func:`drive` for the async face: *step* is awaited."""
    try:
        request = next(gen)
        while True:
            try:
                value = await step(request)
            except Exception as exc:  # noqa: BLE001, PERF203 - thrown into the generator, which decides
                request = gen.throw(exc)
            else:
                request = gen.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]  # the generator's declared result
