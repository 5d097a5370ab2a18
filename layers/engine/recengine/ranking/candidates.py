"""The over-fetch loop recommend and similar share: rank, look the ranked items up in the catalogue,
drop what may not be served (inactive, failing a rule), rank further until enough are left."""

from __future__ import annotations

from typing import Callable

from ..catalogue.store import ItemStore

MAX_SCAN = 2000  # ranked items examined per list before filters are declared too narrow
Reject = Callable[[str, "dict | None"], "str | None"]


def keep_active(item_id: str, row: dict | None) -> str | None:
    return "inactive" if row is not None and not row.get("active", True) else None


def active_top(items: ItemStore, tenant_id: str, limit: int, exclude: set[str],
               rank: Callable[[int, set[str]], list[tuple[str, float]]], reject: Reject = keep_active,
               dropped: dict[str, str] | None = None) -> tuple[list[tuple[str, float]], dict]:
    """The best `limit` items from `rank(n, exclude)` that `reject` lets through (by default: not
    deactivated; items never sent to the catalogue count as active), over-fetching past rejected
    ones up to MAX_SCAN; also their catalogue rows. Rejections land in `dropped` (id -> reason)."""
    dropped = {} if dropped is None else dropped
    rows: dict[str, dict] = {}
    want = limit * 2 + 10
    while True:
        ranked = rank(want, exclude)
        missing = [i for i, _ in ranked if i not in rows]
        if missing:
            rows.update(items.get_many(tenant_id, missing))
        kept = []
        for i, s in ranked:
            reason = reject(i, rows.get(i))
            if reason:
                dropped.setdefault(i, reason)
            else:
                kept.append((i, s))
        if len(kept) >= limit or len(ranked) < want or want >= MAX_SCAN:
            return kept[:limit], rows
        exclude = exclude | set(dropped)
        want = min(want * 2, MAX_SCAN)
