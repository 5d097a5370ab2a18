"""Billing counters in the usage table (hash `tenant_id`, range `period`, periods being `YYYY-MM`).

- `(<tenant>, YYYY-MM)`, the period row: `plan`, and once the tenant sets one, `overage_cap` with
  the `allowance` it implies (the most requests the period may count). Rows written before the
  sharded meter also hold their period's `requests`, which still count.
- `(<tenant>#meter#NN, YYYY-MM)`, the SHARDS meter shards: `requests`, `last_request_at`, `plan`,
  and, once a cap is set, `share` (the most this shard may count). Without a cap, shard i's share is
  its part of the plan-default allowance, passed with each call. The shards are separate partition
  keys, so together they take SHARDS times the write rate DynamoDB allows one item.
- `(<tenant>#call#<request id>, YYYY-MM)`: the marker of one counted call (its shard and the
  invocation that wrote it); expires (TTL `expires_at`) after MARKER_TTL_S.
- `(<tenant>#deferred, YYYY-MM#<request id>)`: a call served while the meter was throttled.
- `(<tenant>, totals)`: `items` and `users`, which are not per period.

A metered call is ONE TransactWriteItems: put the call's marker if it is absent, and add 1 to a
shard if the shard is under its share. Both or neither happen, so a retried transaction (botocore
after a read timeout) finds its own marker and counts nothing again, and a refused one writes
nothing. A full shard sends the call to a shard with room; it is refused only when every shard is
full. The usage report and invoices sum the period row, the shards and the deferred rows.
`riders` are further unconditional items that land with a count and are taken back with it (the
day's analytics counters, analytics.counters.tally_items); a deferred count carries none."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.dynamo import Table, conditional_failure, deserialize, serialize, store_error
from ..errors import StoreError

TOTALS = "totals"  # sorts after every "YYYY-MM" period, so `period < :p` never returns it
COUNTERS = ("items", "users")
SHARDS = 16  # changing it mid-period would move the shares: change it at a period boundary
MARKER_TTL_S = 3600  # a retry comes within seconds; markers only need to outlive the call
EXPIRES_AT = "expires_at"  # the usage table's TTL attribute (template.yaml)
THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
             "TransactionInProgressException", "ThrottlingError", "ProvisionedThroughputExceeded"}
# The meter's transaction got no definite answer (a server error, or none at all): it may or may
# not have landed, so the call is served with its count deferred as when throttled (the deferral
# finds the marker if it did land). Only a refusal (every shard full) fails a metered call.
UNANSWERED = {"InternalServerError", "ServiceUnavailable", "InternalFailure"}
CONFLICT = "TransactionConflict"  # another transaction holds the item
CHECK_FAILED = "ConditionalCheckFailed"
# shard -> (items added to the count's transaction, items that undo them with a take-back)
Riders = Callable[[int], tuple[list[dict], list[dict]]]


def shard_key(tenant_id: str, shard: int) -> str:
    return f"{tenant_id}#meter#{shard:02d}"


def shares(total: int, shards: int = SHARDS) -> list[int]:
    """`total` split over the shards as evenly as integers allow (the first ones take the remainder)."""
    base, extra = divmod(max(0, total), shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


class MeterThrottledError(StoreError):
    """DynamoDB throttled the meter, or gave it no definite answer (after the SDK's retries):
    nothing was counted, unless that transaction landed after all (its marker then says so)."""

    def __init__(self, reason: str, owner: str):
        super().__init__(f"the meter was throttled ({reason})")
        self.reason, self.owner = reason, owner


@dataclass(frozen=True)
class MeterMark:
    """Where one metered call was counted, so that a failed call can be taken back."""

    period: str
    request_id: str
    shard: int | None  # None: a deferred count
    owned: bool = True  # False: an earlier invocation with the same request id counted it
    stored: bool = True  # False: deferred, and the deferred row could not be written either
    undo: tuple[dict, ...] = ()  # transaction items taking back the riders that landed with the count

    @property
    def deferred(self) -> bool:
        return self.shard is None


class UsageStore(Table):
    def _update(self, key: dict, expression: str, names: dict, values: dict, condition: str | None = None,
                returns: str = "NONE") -> dict | None:
        """One UpdateItem; None when the condition refused it (nothing was written)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": serialize(key), "UpdateExpression": expression,
                                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": serialize(values),
                                  "ReturnValues": returns}
        if condition:
            kwargs["ConditionExpression"] = condition
        for attempt in range(5):
            try:
                return self.db.update_item(**kwargs)
            except ClientError as exc:
                if condition and conditional_failure(exc):
                    return None
                if exc.response.get("Error", {}).get("Code") == "TransactionConflictException" and attempt < 4:
                    time.sleep(0.02 * 2 ** attempt)  # a metering transaction holds the item: brief
                    continue
                raise store_error("update_item", exc) from exc
        return None  # unreachable

    def _transact(self, items: list[dict], owner: str) -> list[dict] | None:
        """One TransactWriteItems: None when applied, else the cancellation reasons (one per item).
        Throttling or no definite answer raises MeterThrottledError; other failures StoreError."""
        try:
            self.db.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or [{} for _ in items]
                throttled = [r.get("Code") for r in reasons if r.get("Code") in THROTTLED]
                if throttled and reasons[0].get("Code") != CHECK_FAILED:  # a marker found is news enough
                    raise MeterThrottledError(throttled[0], owner) from exc
                return reasons
            if code in THROTTLED or code in UNANSWERED:
                raise MeterThrottledError(code, owner) from exc
            raise store_error("transact_write_items", exc) from exc
        except BotoCoreError as exc:  # a read timeout, a dropped connection
            raise MeterThrottledError(type(exc).__name__, owner) from exc

    # ------------------------------------------------------------------ metered requests
    def _marker(self, tenant_id: str, period: str, request_id: str, now: float, owner: str, shard: int | None) -> dict:
        row: dict[str, Any] = {"tenant_id": f"{tenant_id}#call#{request_id}", "period": period, "owner": owner,
                               "at": now, EXPIRES_AT: int(now) + MARKER_TTL_S}
        row.update({"shard": shard} if shard is not None else {"deferred": True})
        return {"Put": {"TableName": self.name, "Item": serialize(row),
                        "ConditionExpression": "attribute_not_exists(tenant_id)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    def _add(self, tenant_id: str, period: str, shard: int, now: float, plan: str, default_share: int) -> dict:
        # Under its share: the one set with the cap, else (no cap this period) the plan default's.
        fresh = "(attribute_not_exists(#r) OR #r < :d)" if default_share > 0 else "#r < :d"
        return {"Update": {"TableName": self.name, "Key": serialize({"tenant_id": shard_key(tenant_id, shard),
                                                                     "period": period}),
                           "UpdateExpression": "ADD #r :one SET #at = :now, #plan = :plan",
                           "ConditionExpression": f"(attribute_not_exists(#s) AND {fresh}) OR #r < #s",
                           "ExpressionAttributeNames": {"#r": "requests", "#s": "share", "#at": "last_request_at",
                                                        "#plan": "plan"},
                           "ExpressionAttributeValues": serialize({":one": 1, ":now": now, ":plan": plan,
                                                                   ":d": default_share})}}

    def count_request(self, tenant_id: str, period: str, request_id: str, now: float, plan: str,
                      default_allowance: int, riders: Riders | None = None) -> MeterMark | None:
        """Counts one metered request unless every shard is full (None: refused, nothing written).
        The same request id counts once however often it is sent. MeterThrottledError: nothing was
        counted, unless a retry the SDK gave up on lands later (its marker then says so)."""
        owner = uuid.uuid4().hex  # this invocation: a retry of its transaction carries the same
        defaults = shares(default_allowance)
        order, tried, busy, read = [random.randrange(SHARDS)], set(), False, False
        while order or not read:
            if not order:  # the first shard was full or busy: read them all, try those with room
                read = True
                try:
                    room = self.shard_room(tenant_id, period, defaults)
                except StoreError as exc:  # which shards have room is unknown: not a refusal
                    raise MeterThrottledError("ShardsUnread", owner) from exc
                order = [i for i in random.sample(range(SHARDS), SHARDS) if room[i] > 0 and i not in tried]
                order += [i for i in tried if busy and room[i] > 0]  # a busy shard once more, last
                tried, busy = set(), False
                continue
            shard = order.pop(0)
            extra, undo = riders(shard) if riders is not None else ([], [])
            reasons = self._transact([self._marker(tenant_id, period, request_id, now, owner, shard),
                                      self._add(tenant_id, period, shard, now, plan, defaults[shard]), *extra], owner)
            if reasons is None:
                return MeterMark(period, request_id, shard, undo=tuple(undo))
            if reasons[0].get("Code") == CHECK_FAILED:
                return self._earlier(tenant_id, period, request_id, reasons[0].get("Item"), owner)
            codes = {r.get("Code") for r in reasons}
            if CONFLICT in codes:
                busy = True
            elif reasons[1].get("Code") != CHECK_FAILED:
                raise StoreError(f"transact_write_items cancelled ({', '.join(sorted(map(str, codes)))})")
            tried.add(shard)
        if busy:  # some shard was never seen full: not a refusal
            raise MeterThrottledError(CONFLICT, owner)
        return None

    def _earlier(self, tenant_id: str, period: str, request_id: str, item: dict | None, owner: str) -> MeterMark:
        """The call's marker was already there: counted before, by this invocation or an earlier one."""
        row = deserialize(item) if item else self.get_row(
            {"tenant_id": f"{tenant_id}#call#{request_id}", "period": period}, consistent=True)
        if row is None:
            raise StoreError("the metered call's marker vanished")
        shard = None if row.get("deferred") else int(row["shard"])
        return MeterMark(row["period"], request_id, shard, owned=row.get("owner") == owner)

    def shard_room(self, tenant_id: str, period: str, defaults: list[int]) -> list[int]:
        """What each shard may still count (strongly consistent)."""
        rows = {r["tenant_id"]: r for r in self.batch_get_rows(
            [{"tenant_id": shard_key(tenant_id, i), "period": period} for i in range(SHARDS)], consistent=True)}
        room = []
        for i in range(SHARDS):
            row = rows.get(shard_key(tenant_id, i), {})
            room.append(int(row.get("share", defaults[i])) - int(row.get("requests", 0)))
        return room

    def defer_request(self, tenant_id: str, period: str, request_id: str, now: float, plan: str, reason: str,
                      owner: str) -> MeterMark:
        """Records a call served while the meter was throttled, once: its marker (so that a late retry
        of the count finds it and counts nothing) and a deferred-count row, in one transaction."""
        row = {"tenant_id": f"{tenant_id}#deferred", "period": f"{period}#{request_id}", "requests": 1,
               "last_request_at": now, "plan": plan, "reason": reason}
        reasons = self._transact([self._marker(tenant_id, period, request_id, now, owner, None),
                                  {"Put": {"TableName": self.name, "Item": serialize(row),
                                           "ConditionExpression": "attribute_not_exists(tenant_id)"}}], owner)
        if reasons is None:
            return MeterMark(period, request_id, None)
        if reasons[0].get("Code") == CHECK_FAILED:
            return self._earlier(tenant_id, period, request_id, reasons[0].get("Item"), owner)
        raise StoreError(f"deferring a count was cancelled ({reasons})")

    def uncount_request(self, tenant_id: str, mark: MeterMark) -> None:
        """Takes back one counted request (the call it admitted then failed), once: the marker goes
        with the count, so a retried take-back finds no marker and changes nothing."""
        if not mark.owned or not mark.stored:
            return
        marker = {"Delete": {"TableName": self.name, "ConditionExpression": "attribute_exists(tenant_id)",
                             "Key": serialize({"tenant_id": f"{tenant_id}#call#{mark.request_id}",
                                               "period": mark.period})}}
        if mark.shard is None:
            counter = {"Delete": {"TableName": self.name, "Key": serialize(
                {"tenant_id": f"{tenant_id}#deferred", "period": f"{mark.period}#{mark.request_id}"})}}
        else:
            counter = {"Update": {"TableName": self.name, "UpdateExpression": "ADD #r :minus",
                                  "Key": serialize({"tenant_id": shard_key(tenant_id, mark.shard),
                                                    "period": mark.period}),
                                  "ExpressionAttributeNames": {"#r": "requests"},
                                  "ExpressionAttributeValues": serialize({":minus": -1})}}
        reasons = self._transact([marker, counter, *(mark.undo if mark.shard is not None else ())], "take-back")
        if reasons is not None and reasons[0].get("Code") != CHECK_FAILED:
            raise StoreError(f"taking back a metered call was cancelled ({reasons})")

    def set_overage_cap(self, tenant_id: str, period: str, cap: float, allowance: int, plan: str) -> None:
        """Sets the period's cap and allowance, and gives each shard its share of what is left of the
        allowance (none when it is spent), relative to the shard's count at that instant: from the
        next call on, the period counts at most max(allowance, what it had already counted)."""
        left = shares(allowance - self.period(tenant_id, period)["requests"])
        version = uuid.uuid4().hex  # a retried update of one shard must not add its share twice
        for shard in range(SHARDS):
            self._update({"tenant_id": shard_key(tenant_id, shard), "period": period},
                         "SET #s = if_not_exists(#r, :zero) + :left, #r = if_not_exists(#r, :zero), #v = :v",
                         {"#s": "share", "#r": "requests", "#v": "cap_version"},
                         {":zero": 0, ":left": left[shard], ":v": version},
                         condition="attribute_not_exists(#v) OR #v <> :v")
        self._update({"tenant_id": tenant_id, "period": period},
                     "SET #cap = :cap, #a = :a, #plan = if_not_exists(#plan, :plan)",
                     {"#cap": "overage_cap", "#a": "allowance", "#plan": "plan"},
                     {":cap": cap, ":a": allowance, ":plan": plan})

    # ------------------------------------------------------------------ reading the counts
    def period(self, tenant_id: str, period: str) -> dict:
        """The period's row (plan, cap, allowance) with `requests` summed over the period row, the
        shards and the deferred counts, and `last_request_at` and `plan` from the latest call."""
        keys = [{"tenant_id": tenant_id, "period": period}]
        keys += [{"tenant_id": shard_key(tenant_id, i), "period": period} for i in range(SHARDS)]
        rows = self.batch_get_rows(keys, consistent=True)
        rows += self.query_rows(KeyConditionExpression="tenant_id = :t AND begins_with(#p, :p)",
                                ExpressionAttributeNames={"#p": "period"},
                                ExpressionAttributeValues=serialize({":t": f"{tenant_id}#deferred",
                                                                     ":p": f"{period}#"}), ConsistentRead=True)
        return _summed(tenant_id, period, rows)

    def periods_before(self, tenant_id: str, period: str) -> list[dict]:
        """The tenant's periods older than `period` that counted anything or set a cap, summed as in
        `period`, oldest first."""
        by_period: dict[str, list[dict]] = {}
        partitions = [tenant_id, f"{tenant_id}#deferred"] + [shard_key(tenant_id, i) for i in range(SHARDS)]
        for partition in partitions:
            for row in self.query_rows(KeyConditionExpression="tenant_id = :t AND #p < :p",
                                       ExpressionAttributeNames={"#p": "period"},
                                       ExpressionAttributeValues=serialize({":t": partition, ":p": period}),
                                       ConsistentRead=True):
                by_period.setdefault(row["period"].split("#")[0], []).append(row)
        return [_summed(tenant_id, p, rows) for p, rows in sorted(by_period.items())]

    # ------------------------------------------------------------------ items and users
    def reserve(self, tenant_id: str, counter: str, n: int, limit: int) -> bool:
        """Adds n to the tenant's item or user count if it stays within limit; False (and no change) if not."""
        if counter not in COUNTERS:
            raise ValueError(f"unknown counter {counter!r}")
        if n <= 0:
            return True
        out = self._update({"tenant_id": tenant_id, "period": TOTALS}, "ADD #c :n", {"#c": counter},
                           {":n": n, ":limit": limit, ":room": limit - n},
                           condition="(attribute_not_exists(#c) AND :n <= :limit) OR #c <= :room")
        return out is not None

    def release(self, tenant_id: str, counter: str, n: int) -> None:
        """Gives back n reserved slots that were not used after all."""
        if counter not in COUNTERS:
            raise ValueError(f"unknown counter {counter!r}")
        if n > 0:
            self._update({"tenant_id": tenant_id, "period": TOTALS}, "ADD #c :n", {"#c": counter}, {":n": -n})

    def release_item(self, tenant_id: str, counter: str, n: int) -> dict:
        """`release` as one TransactWriteItems item, so that the write that frees the slots (an erased
        user's seen marker deleted) and the count going down happen together or not at all."""
        if counter not in COUNTERS:
            raise ValueError(f"unknown counter {counter!r}")
        return {"Update": {"TableName": self.name, "Key": serialize({"tenant_id": tenant_id, "period": TOTALS}),
                           "UpdateExpression": "ADD #c :n", "ExpressionAttributeNames": {"#c": counter},
                           "ExpressionAttributeValues": serialize({":n": -n})}}

    def totals(self, tenant_id: str) -> dict[str, int]:
        row = self.get_row({"tenant_id": tenant_id, "period": TOTALS}, consistent=True) or {}
        return {c: int(row.get(c, 0)) for c in COUNTERS}


def _summed(tenant_id: str, period: str, rows: list[dict]) -> dict:
    """One period's rows as the single row invoices and the usage report read."""
    base = next((r for r in rows if r["tenant_id"] == tenant_id), {})
    counters = [r for r in rows if r["tenant_id"] != tenant_id]
    out = {k: v for k, v in base.items() if k not in ("requests", "last_request_at")}
    out.update({"tenant_id": tenant_id, "period": period,
                "requests": sum(int(r.get("requests", 0)) for r in [base, *counters])})
    dated = [r for r in [base, *counters] if "last_request_at" in r]
    if dated:
        latest = max(dated, key=lambda r: float(r["last_request_at"]))
        out["last_request_at"] = latest["last_request_at"]
        if "plan" in latest:
            out["plan"] = latest["plan"]
    return out
