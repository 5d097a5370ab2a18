"""Seen-user markers in the interactions table (`<tenant>#seenuser#<user>`): each user counts once
towards the plan's user limit. Markers carry no tenant_id, so they stay out of the by_tenant index."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from ..aws.dynamo import Table, put_if_absent, serialize
from ..errors import StoreError


_readers: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _readers
    if _readers is None:
        _readers = ThreadPoolExecutor(max_workers=5, thread_name_prefix="seen-users")  # 500 users: 5 reads
    return _readers


def seen_user_key(tenant_id: str, user_id: str) -> dict:
    return {"pk": f"{tenant_id}#seenuser#{user_id}", "sk": "-"}


class SeenUserStore(Table):
    def unseen_users(self, tenant_id: str, user_ids: Iterable[str]) -> list[str]:
        """The user ids that have no seen-user marker yet, in the given order (one round trip: the
        BatchGetItem calls of a large batch in flight together)."""
        ids = list(dict.fromkeys(user_ids))
        keys = [seen_user_key(tenant_id, u) for u in ids]
        chunks = [keys[i:i + 100] for i in range(0, len(keys), 100)]  # BatchGetItem's limit: read together
        if len(chunks) > 1:
            found = {r["pk"] for rows in _pool().map(self.batch_get_rows, chunks) for r in rows}
        else:
            found = {r["pk"] for r in self.batch_get_rows(keys)}
        return [u for u in ids if seen_user_key(tenant_id, u)["pk"] not in found]

    def marker_item(self, tenant_id: str, user_id: str, now: float) -> dict:
        """The user's seen marker as a transaction item (written with the user's first event, so only
        once one of its events lands); refused if the marker is there already."""
        return {"Put": {"TableName": self.name, "Item": serialize({**seen_user_key(tenant_id, user_id),
                                                                   "first_seen_at": now}),
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def mark_users_seen(self, tenant_id: str, user_ids: list[str], now: float) -> list[bool | StoreError]:
        """Writes each user's seen marker unless present: per user, True if this call wrote it,
        False if another writer had, or the error."""
        rows = [{**seen_user_key(tenant_id, u), "first_seen_at": now} for u in user_ids]
        return put_if_absent(self.db, self.name, rows, "pk")

    def forget_user(self, tenant_id: str, user_id: str, uncount: dict) -> bool:
        """Deletes the user's seen marker and applies `uncount` (the plan's user count down by one,
        UsageStore.release_item) in one transaction: True if this call did both, False when there
        was no marker (never seen, or already forgotten: nothing is counted down twice)."""
        marker = {"Delete": {"TableName": self.name, "Key": serialize(seen_user_key(tenant_id, user_id)),
                             "ConditionExpression": "attribute_exists(pk)"}}
        reasons = self.transact([marker, uncount])
        if reasons is None:
            return True
        if reasons[0] == "ConditionalCheckFailed":
            return False
        raise StoreError(f"forgetting a seen user was cancelled ({', '.join(reasons)})")
