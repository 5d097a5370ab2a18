"""Catalogue items in the items table, keyed (tenant_id, item_id)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Iterable, Iterator

from botocore.exceptions import ClientError

from ..aws.dynamo import CallFailed, PartialWriteError, Table, put_if_absent, serialize, store_error
from ..errors import InvalidArgumentError, StoreError
from ..observability import count, logger
from .model import item_row_problem

def encode_cursor(key: dict | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str) -> dict:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError("invalid cursor") from exc
    if not isinstance(value, dict):
        raise InvalidArgumentError("invalid cursor")
    return value


CHANGE_RETENTION_S = 30 * 86400  # a model whose snapshot is older reads the items themselves (see changes_since)
CLOCK_SKEW_S = 10.0  # changes are read from this long before a snapshot: writers' clocks may lag the trainer's
# (Lambda hosts keep time through Amazon Time Sync, within a millisecond; 10 s is a wide margin, and every
# change row read within it costs each request of the first seconds after a training a row of its Query)
MAX_CHANGES = 1000  # one page of the change record; past it a request reads the items themselves


def change_key(tenant_id: str, ts: float, item_id: str) -> dict:
    """A change row sorts by time under the tenant's `<tenant>#changes` partition of the items table."""
    return {"tenant_id": f"{tenant_id}#changes", "item_id": f"{ts:017.6f}#{item_id}"}


class ItemStore(Table):
    """Catalogue items keyed (tenant_id, item_id). A row no reader could use (see
    model.item_row_problem) is skipped by every read and logged: one bad row never breaks a tenant.

    Every write of an item also records the change (its new active flag and metadata) in the
    tenant's change record, BEFORE the item write is reported done (a deactivation in the same
    transaction): ranking reads the catalogue from the model's snapshot plus this record, and an item
    deactivated by a call that has returned must never be served again."""

    def unreadable(self, item: dict, exc: Exception) -> None:
        self._skipped(item.get("tenant_id", {}).get("S"), item.get("item_id", {}).get("S"), type(exc).__name__)

    @staticmethod
    def _skipped(tenant_id: str | None, item_id: str | None, problem: str) -> None:
        count("UnreadableRow", table="items")
        logger.warning("unreadable item row skipped", extra={"tenant_id": tenant_id, "item_id": item_id,
                                                             "problem": problem})

    def _readable(self, rows: Iterable[dict]) -> Iterator[dict]:
        for row in rows:
            problem = item_row_problem(row)
            if problem is None:
                yield row
            else:
                self._skipped(row.get("tenant_id"), row.get("item_id"), problem)

    def upsert(self, tenant_id: str, items: list[dict], now: float) -> set[str]:
        """Writes items, keeping each existing item's created_at; returns the ids not written."""
        return self.write_items(tenant_id, items, self.get_many(tenant_id, (i["id"] for i in items)), now)

    @staticmethod
    def _row(tenant_id: str, item: dict, old: dict | None, now: float) -> dict:
        return {"tenant_id": tenant_id, "item_id": item["id"], "metadata": item.get("metadata") or {},
                "offer": item.get("offer") or {}, "active": bool(item.get("active", True)),
                "created_at": old["created_at"] if old else now, "updated_at": now}

    def write_items(self, tenant_id: str, items: list[dict], existing: dict[str, dict], now: float) -> set[str]:
        """Batch-writes items (those in `existing` keep their created_at), each after its change row;
        returns the ids not written after the batch's retries."""
        unrecorded = self.record_changes(tenant_id, items, now)
        recorded = [i for i in items if i["id"] not in unrecorded]
        try:
            self.batch_put_rows([self._row(tenant_id, i, existing.get(i["id"]), now) for i in recorded])
        except PartialWriteError as exc:
            return unrecorded | {recorded[n]["id"] for n in exc.failed}
        return unrecorded

    def insert_absent(self, tenant_id: str, items: list[dict], now: float) -> list[bool | StoreError]:
        """Creates each item only if the tenant has no item with its id (a conditional put each, after
        its change row): per item, True if created, False if it already existed (nothing written; the
        caller then upserts it with the same content), or the error."""
        unrecorded = self.record_changes(tenant_id, items, now)
        recorded = [i for i in items if i["id"] not in unrecorded]
        results = iter(put_if_absent(self.db, self.name, [self._row(tenant_id, i, None, now) for i in recorded],
                                     "item_id"))
        return [StoreError("the catalogue change could not be recorded") if i["id"] in unrecorded else next(results)
                for i in items]

    # ------------------------------------------------------------------ the change record
    @staticmethod
    def _change_row(tenant_id: str, item_id: str, change: dict, now: float) -> dict:
        return {**change_key(tenant_id, now, item_id), "id": item_id, **change,
                "expires_at": int(now) + CHANGE_RETENTION_S}

    def record_changes(self, tenant_id: str, items: list[dict], now: float) -> set[str]:
        """Writes the change rows of `items` (their new active flag, metadata and decisioning fields);
        returns the ids whose row could not be written (their item must not be written either)."""
        rows = [self._change_row(tenant_id, i["id"], {"active": bool(i.get("active", True)),
                                                      "metadata": i.get("metadata") or {},
                                                      "offer": i.get("offer") or {}}, now) for i in items]
        try:
            self.batch_put_rows(rows)
        except PartialWriteError as exc:
            return {items[n]["id"] for n in exc.failed}
        return set()

    def changes_since(self, tenant_id: str, since: float) -> list[dict] | None:
        """The tenant's catalogue changes written since `since` (less the clock-skew margin), oldest
        first: {id, active[, metadata, offer]} each. One strongly consistent page: None when there are more
        than MAX_CHANGES, or when `since` is older than the record keeps, and the caller must read the
        items themselves."""
        if since < time.time() - CHANGE_RETENTION_S + 86400:
            return None
        start = change_key(tenant_id, max(since - CLOCK_SKEW_S, 0.0), "")
        try:
            out = self.db.query(TableName=self.name, ConsistentRead=True, Limit=MAX_CHANGES,
                                KeyConditionExpression="tenant_id = :p AND item_id > :s",
                                ExpressionAttributeValues=serialize({":p": start["tenant_id"], ":s": start["item_id"]}))
        except CallFailed as exc:  # a timeout (BotoCoreError) as much as a refusal (ClientError)
            raise store_error("query", exc) from exc
        if out.get("LastEvaluatedKey"):
            count("CatalogueChangesOverflow")
            logger.warning("catalogue changed more than the change record serves since the model's snapshot; "
                           "ranking reads the items until the next training", extra={"tenant_id": tenant_id})
            return None
        rows = (self.load(r) for r in out.get("Items", []))
        return [{k: v for k, v in r.items() if k in ("id", "active", "metadata", "offer")} for r in rows if r is not None]

    def get(self, tenant_id: str, item_id: str) -> dict | None:
        return next(self._readable([row] if (row := self.get_row({"tenant_id": tenant_id, "item_id": item_id}))
                                   else []), None)

    def get_many(self, tenant_id: str, item_ids: Iterable[str]) -> dict[str, dict]:
        ids = list(dict.fromkeys(item_ids))
        rows = self.batch_get_rows([{"tenant_id": tenant_id, "item_id": i} for i in ids])
        return {r["item_id"]: r for r in self._readable(rows)}

    def page(self, tenant_id: str, limit: int, cursor: str | None, search: str | None) -> tuple[list[dict], str | None]:
        """One page of the tenant's items in id order; `search` matches id and metadata text."""
        kwargs: dict[str, Any] = {
            "TableName": self.name, "KeyConditionExpression": "tenant_id = :t",
            "ExpressionAttributeValues": serialize({":t": tenant_id}),
        }
        if cursor:
            start = decode_cursor(cursor)
            if start.get("tenant_id") != tenant_id or not isinstance(start.get("item_id"), str):
                raise InvalidArgumentError("invalid cursor")
            kwargs["ExclusiveStartKey"] = serialize(start)
        needle = search.lower() if search else None
        found: list[dict] = []
        while True:
            kwargs["Limit"] = max(limit - len(found), 1) if needle is None else 200
            try:
                out = self.db.query(**kwargs)
            except ClientError as exc:
                raise store_error("query", exc) from exc
            for row in self._readable(r for r in map(self.load, out.get("Items", [])) if r is not None):
                if needle is None or self.matches(row, needle):
                    found.append(row)
                    if len(found) == limit:
                        last = {"tenant_id": tenant_id, "item_id": row["item_id"]}
                        return found, encode_cursor(last)
            last_key = out.get("LastEvaluatedKey")
            if not last_key:
                return found, None
            kwargs["ExclusiveStartKey"] = last_key

    @staticmethod
    def matches(row: dict, needle: str) -> bool:
        """The search of item lists: `needle` (lower case) in the id or anywhere in the metadata's text."""
        return needle in row["item_id"].lower() or needle in json.dumps(row.get("metadata", {}),
                                                                       ensure_ascii=False).lower()

    def iter_items(self, tenant_id: str) -> Iterator[dict]:
        """Every item of the tenant (training reads the catalogue once per run)."""
        return self._readable(self.query_rows(KeyConditionExpression="tenant_id = :t",
                                              ExpressionAttributeValues=serialize({":t": tenant_id})))

    def deactivate(self, tenant_id: str, item_id: str, now: float) -> bool:
        """Marks an item inactive and records the change, in one transaction; False if the tenant has
        no such item (nothing written)."""
        reasons = self.transact([
            {"Update": {"TableName": self.name, "Key": serialize({"tenant_id": tenant_id, "item_id": item_id}),
                        "UpdateExpression": "SET active = :f, updated_at = :n",
                        "ConditionExpression": "attribute_exists(item_id)",
                        "ExpressionAttributeValues": serialize({":f": False, ":n": now})}},
            {"Put": {"TableName": self.name,
                     "Item": serialize(self._change_row(tenant_id, item_id, {"active": False}, now))}}])
        if reasons is None:
            return True
        if reasons[0] == "ConditionalCheckFailed":
            return False
        raise StoreError(f"transact_write_items cancelled ({', '.join(map(str, reasons))})")
