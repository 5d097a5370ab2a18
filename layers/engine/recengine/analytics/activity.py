"""A call's users counted active for the day: which are not yet counted is read beside the call's
first round trip (the meter), and those are counted beside its writes, so the count adds no
sequential round trip. Analytics never costs a call: a failure is logged, not raised."""

from __future__ import annotations

import time
from typing import Iterable

from ..errors import StoreError
from ..observability import count, logger
from .counters import DailyCounterStore, day_of


class ActiveToday:
    """`user_ids`: the users' pseudonymous keys (the markers never hold a user id)."""

    def __init__(self, store: DailyCounterStore, tenant_id: str, user_ids: Iterable[str], now: float | None = None):
        self.store, self.tenant_id = store, tenant_id
        self.now = time.time() if now is None else now
        self.day = day_of(self.now)
        self.users = sorted(set(user_ids))
        self.inactive: list[str] = []
        self.counted = 0

    def read(self) -> None:
        """Which of the users have no marker for the day yet (one BatchGetItem per 100 users, together)."""
        if not self.users:
            return
        try:
            self.inactive = self.store.inactive_users(self.tenant_id, self.day, self.users)
        except StoreError as exc:
            self._lost("read", exc)

    def mark(self) -> None:
        """Counts the users read as inactive, once each for the day (see DailyCounterStore.mark_active)."""
        if not self.inactive:
            return
        try:
            self.counted = self.store.mark_active(self.tenant_id, self.day, self.inactive, self.now)
        except StoreError as exc:
            self._lost("mark", exc)

    def _lost(self, step: str, exc: StoreError) -> None:
        count("AnalyticsNotCounted", step=step)
        logger.warning("active users not counted", extra={"tenant_id": self.tenant_id, "day": self.day,
                                                          "users": len(self.users), "step": step, "error": str(exc)})
