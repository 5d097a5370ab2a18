"""Independent AWS calls of one request issued together: each is a network round trip of several
milliseconds, so a request that needs four reads waits for one round trip, not four. boto3's
low-level clients are thread-safe; the pool is process-wide and sized for one request's fan-out."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

from .errors import StoreError
from .observability import carry_trace

T = TypeVar("T")
MAX_WORKERS = 16  # one request's independent calls (reads, the meter, exposure writes), with room to spare

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="fanout")
    return _pool


def start(fn: Callable[..., T], *args, **kwargs) -> Future:
    """Runs `fn` on the shared pool; `.result()` returns its value or re-raises its exception."""
    return _executor().submit(carry_trace(fn), *args, **kwargs)


def done(value: T) -> Future:
    """A future already holding `value`: a call that was not needed, with the same interface."""
    future: Future = Future()
    future.set_result(value)
    return future


def ready(value: T) -> Callable[[], T]:
    """A call whose value is already known (a read the request does not need): `gather` answers it
    on the caller's thread instead of handing it to the pool, which costs more than the call."""
    def known() -> T:
        return value
    known.ready = True  # type: ignore[attr-defined]
    return known


def attempt(call: Callable[[], T], fallback: T) -> Callable[[], tuple[T, StoreError | None]]:
    """`call` made safe to gather when its failure is survivable: (its value, None), or (`fallback`,
    the StoreError it raised), so that the caller decides what a failed part costs."""
    def run() -> tuple[T, StoreError | None]:
        try:
            return call(), None
        except StoreError as exc:
            return fallback, exc
    return run


def gather(*calls: Callable[[], T]) -> list[T]:
    """Runs the calls together and returns their values in order; the first exception (in order)
    is raised once every call has finished, so no call outlives the request that started it."""
    futures = [None if getattr(call, "ready", False) else start(call) for call in calls[1:]]
    results: list = []
    first_error: BaseException | None = None
    for call in calls[:1]:  # the first runs on the caller's thread: one hand-off fewer
        try:
            results.append(call())
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others finished
            first_error, _ = exc, results.append(None)
    for call, future in zip(calls[1:], futures):
        try:
            results.append(call() if future is None else future.result())
        except BaseException as exc:  # noqa: BLE001
            first_error = first_error or exc
            results.append(None)
    if first_error is not None:
        raise first_error
    return results
