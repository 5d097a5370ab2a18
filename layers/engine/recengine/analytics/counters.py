"""Daily counters in the usage table, kept as traffic happens (docs/adr/0008-daily-counters.md).

- `(<tenant>#daily#NN, YYYY-MM-DD)`, NN one of SHARDS: `recommendations` (answered recommend and
  similar calls), `interactions` (events in answered interaction calls) and `active_users`. The
  first two ride in the metering transaction of the call (`tally_items`): added with its count,
  taken back with it, never written alone. The shard is the meter's, so the day's rows spread
  writes over as many partitions as the meter does.
- `(<tenant>#active#YYYY-MM-DD, <user key>)`: the marker of a user active that day, under the
  user's pseudonymous key (attribution.service.Pseudonyms: no user id is stored), TTL `expires_at`. A user is counted once a day by a transaction that puts its marker if absent and
  adds 1 to `active_users`: both or neither, so concurrent calls never count a user twice.
Days are UTC dates. Reading a period is one Query per shard, all in flight together."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Literal

from ..aws.dynamo import CallFailed, Table, serialize, store_error
from ..concurrency import gather
from ..errors import StoreError

SHARDS = 16  # the meter's shard count (billing.store.SHARDS): a tally lands in the shard it counted in
COUNTERS = ("recommendations", "interactions", "active_users")
MARKER_TTL_S = 3 * 86400  # a day's active markers are read only on that day; kept a little longer
EXPIRES_AT = "expires_at"  # the usage table's TTL attribute (template.yaml)
USERS_PER_TRANSACTION = 24  # 24 markers and the counter: well within TransactWriteItems' 100 items


def day_of(ts: float) -> str:
    """The UTC date of a timestamp, as the day rows' sort key."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()


def daily_key(tenant_id: str, shard: int, day: str) -> dict:
    return {"tenant_id": f"{tenant_id}#daily#{shard:02d}", "period": day}


def active_key(tenant_id: str, day: str, user_id: str) -> dict:
    return {"tenant_id": f"{tenant_id}#active#{day}", "period": user_id}


@dataclass(frozen=True)
class Tally:
    """What one metered call adds to its day's counters once it is counted."""

    counter: Literal["recommendations", "interactions"]
    n: int = 1


@dataclass(frozen=True)
class DayCounts:
    day: str
    recommendations: int = 0
    interactions: int = 0
    active_users: int = 0


def _add_item(table: str, key: dict, counter: str, n: int) -> dict:
    return {"Update": {"TableName": table, "Key": serialize(key), "UpdateExpression": "ADD #c :n",
                       "ExpressionAttributeNames": {"#c": counter},
                       "ExpressionAttributeValues": serialize({":n": n})}}


def tally_items(table: str, tenant_id: str, shard: int, now: float, tally: Tally) -> tuple[list[dict], list[dict]]:
    """The transaction item adding `tally` to the day's row of `shard` (unconditional, so it never
    cancels the meter's transaction), and the item that takes it back with the call."""
    key = daily_key(tenant_id, shard, day_of(now))
    return [_add_item(table, key, tally.counter, tally.n)], [_add_item(table, key, tally.counter, -tally.n)]


class DailyCounterStore(Table):
    """The day rows and active-user markers (the usage table)."""

    def inactive_users(self, tenant_id: str, day: str, user_ids: Iterable[str]) -> list[str]:
        """The users without a marker for `day`, in the given order (BatchGetItem, chunks together)."""
        ids = list(dict.fromkeys(user_ids))
        keys = [active_key(tenant_id, day, u) for u in ids]
        chunks = [keys[i:i + 100] for i in range(0, len(keys), 100)]
        found = {r["period"] for rows in gather(*(lambda c=c: self.batch_get_rows(c) for c in chunks)) for r in rows}
        return [u for u in ids if u not in found]

    def forget_user(self, tenant_id: str, user_key: str, now: float) -> int:
        """Deletes the user's active-day markers (a user's erasure): every day a marker may still exist,
        TTL included (DynamoDB deletes expired rows up to two days late). Returns how many it asked."""
        days = [day_of(now - n * 86400) for n in range(MARKER_TTL_S // 86400 + 3)]
        for day in days:
            try:
                self.db.delete_item(TableName=self.name, Key=serialize(active_key(tenant_id, day, user_key)))
            except CallFailed as exc:
                raise store_error("delete_item", exc) from exc
        return len(days)

    def mark_active(self, tenant_id: str, day: str, user_ids: list[str], now: float) -> int:
        """Counts each user active on `day` once: per chunk, ONE transaction of the users' markers (put
        if absent) and the day's `active_users` count; a chunk refused because another call marked
        some of its users meanwhile goes again without them. Returns how many this call counted."""
        expires = int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()) + MARKER_TTL_S
        chunks = [user_ids[i:i + USERS_PER_TRANSACTION] for i in range(0, len(user_ids), USERS_PER_TRANSACTION)]
        return sum(gather(*(lambda c=c: self._mark_chunk(tenant_id, day, c, now, expires) for c in chunks)))

    def _mark_chunk(self, tenant_id: str, day: str, users: list[str], now: float, expires: int) -> int:
        for _ in range(3):  # a refusal removes at least one user; a chunk settles in a few tries
            if not users:
                return 0
            markers = [{"Put": {"TableName": self.name, "ConditionExpression": "attribute_not_exists(tenant_id)",
                                "Item": serialize({**active_key(tenant_id, day, u), "at": now,
                                                   EXPIRES_AT: expires})}} for u in users]
            counter = _add_item(self.name, daily_key(tenant_id, random.randrange(SHARDS), day), "active_users",
                                len(users))
            reasons = self.transact(markers + [counter])
            if reasons is None:
                return len(users)
            refused = {i for i, code in enumerate(reasons[:len(users)]) if code == "ConditionalCheckFailed"}
            if not refused:
                raise StoreError(f"marking active users was cancelled ({', '.join(reasons)})")
            users = [u for i, u in enumerate(users) if i not in refused]
        raise StoreError("marking active users kept being refused")

    def days(self, tenant_id: str, first: str | None = None, last: str | None = None) -> dict[str, DayCounts]:
        """Each day's counts summed over the shards, from `first` to `last` inclusive (None: no bound);
        days without traffic are absent. One Query per shard, together."""
        def shard_rows(shard: int) -> list[dict]:
            kwargs: dict = {"KeyConditionExpression": "tenant_id = :t"}
            values = {":t": daily_key(tenant_id, shard, "")["tenant_id"]}
            if first is not None or last is not None:
                kwargs["KeyConditionExpression"] += " AND #p BETWEEN :a AND :b"
                kwargs["ExpressionAttributeNames"] = {"#p": "period"}
                values.update({":a": first or "0000-00-00", ":b": last or "9999-99-99"})
            return list(self.query_rows(ExpressionAttributeValues=serialize(values), **kwargs))

        sums: dict[str, dict[str, int]] = {}
        for rows in gather(*(lambda s=s: shard_rows(s) for s in range(SHARDS))):
            for row in rows:
                day = sums.setdefault(row["period"], dict.fromkeys(COUNTERS, 0))
                for counter in COUNTERS:
                    day[counter] += int(row.get(counter, 0))
        return {day: DayCounts(day, **counts) for day, counts in sorted(sums.items())}
