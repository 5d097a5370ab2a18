"""Billing counters in the usage table, keyed (tenant_id, period).

One row per tenant and billing period (`YYYY-MM`): `requests`, `last_request_at`, `plan`, and, once
the tenant sets one, `overage_cap` with the `allowance` it implies (the most requests the period may
count). One `totals` row per tenant: `items` and `users`, which are not per period. Every change is
a single UpdateItem, so DynamoDB applies it atomically; the limits are conditions on that same
update, so a refused change writes nothing."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error

TOTALS = "totals"  # sorts after every "YYYY-MM" period, so `period < :p` never returns it
COUNTERS = ("items", "users")


class UsageStore(Table):
    def _update(self, key: dict, expression: str, names: dict, values: dict, condition: str | None = None,
                returns: str = "NONE") -> dict | None:
        """One UpdateItem; None when the condition refused it (nothing was written)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": serialize(key), "UpdateExpression": expression,
                                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": serialize(values),
                                  "ReturnValues": returns}
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            return self.db.update_item(**kwargs)
        except ClientError as exc:
            if condition and conditional_failure(exc):
                return None
            raise store_error("update_item", exc) from exc

    # ------------------------------------------------------------------ metered requests
    def count_request(self, tenant_id: str, period: str, now: float, plan: str, default_allowance: int) -> int | None:
        """Counts one metered request unless the period's allowance is used up; returns the new count,
        or None when refused. The allowance is the row's own (set with the overage cap) or, while the
        tenant has set none this period, `default_allowance` (from the plan's default cap)."""
        out = self._update(
            {"tenant_id": tenant_id, "period": period},
            "ADD #r :one SET #at = :now, #plan = :plan",
            {"#r": "requests", "#at": "last_request_at", "#plan": "plan", "#a": "allowance"},
            {":one": 1, ":now": now, ":plan": plan, ":default": default_allowance},
            condition="attribute_not_exists(#r) OR (attribute_not_exists(#a) AND #r < :default) OR #r < #a",
            returns="UPDATED_NEW")
        if out is None:
            return None
        return int(out["Attributes"]["requests"]["N"])

    def uncount_request(self, tenant_id: str, period: str) -> None:
        """Takes back one counted request (the call it admitted then failed)."""
        self._update({"tenant_id": tenant_id, "period": period}, "ADD #r :minus", {"#r": "requests"}, {":minus": -1})

    def set_overage_cap(self, tenant_id: str, period: str, cap: float, allowance: int, plan: str) -> None:
        self._update({"tenant_id": tenant_id, "period": period},
                     "SET #cap = :cap, #a = :a, #plan = if_not_exists(#plan, :plan)",
                     {"#cap": "overage_cap", "#a": "allowance", "#plan": "plan"},
                     {":cap": cap, ":a": allowance, ":plan": plan})

    def period(self, tenant_id: str, period: str) -> dict:
        return self.get_row({"tenant_id": tenant_id, "period": period}, consistent=True) or {}

    def periods_before(self, tenant_id: str, period: str) -> list[dict]:
        """The tenant's period rows older than `period`, oldest first."""
        return list(self.query_rows(KeyConditionExpression="tenant_id = :t AND #p < :p",
                                ExpressionAttributeNames={"#p": "period"},
                                ExpressionAttributeValues=serialize({":t": tenant_id, ":p": period}),
                                ConsistentRead=True))

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

    def totals(self, tenant_id: str) -> dict[str, int]:
        row = self.get_row({"tenant_id": tenant_id, "period": TOTALS}, consistent=True) or {}
        return {c: int(row.get(c, 0)) for c in COUNTERS}
