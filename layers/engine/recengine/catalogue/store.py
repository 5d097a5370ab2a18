"""Catalogue items in the items table, keyed (tenant_id, item_id)."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterable, Iterator

from botocore.exceptions import ClientError

from ..aws.dynamo import PartialWriteError, Table, conditional_failure, put_if_absent, serialize, store_error
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


class ItemStore(Table):
    """Catalogue items keyed (tenant_id, item_id). A row no reader could use (see
    model.item_row_problem) is skipped by every read and logged: one bad row never breaks a tenant."""

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
                "active": bool(item.get("active", True)),
                "created_at": old["created_at"] if old else now, "updated_at": now}

    def write_items(self, tenant_id: str, items: list[dict], existing: dict[str, dict], now: float) -> set[str]:
        """Batch-writes items (those in `existing` keep their created_at); returns the ids not written
        after the batch's retries."""
        try:
            self.batch_put_rows([self._row(tenant_id, i, existing.get(i["id"]), now) for i in items])
        except PartialWriteError as exc:
            return {items[n]["id"] for n in exc.failed}
        return set()

    def insert_absent(self, tenant_id: str, items: list[dict], now: float) -> list[bool | StoreError]:
        """Creates each item only if the tenant has no item with its id (a conditional put each):
        per item, True if created, False if it already existed (nothing written), or the error."""
        return put_if_absent(self.db, self.name, [self._row(tenant_id, i, None, now) for i in items], "item_id")

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
                if needle is None or needle in row["item_id"].lower() or needle in json.dumps(
                        row.get("metadata", {}), ensure_ascii=False).lower():
                    found.append(row)
                    if len(found) == limit:
                        last = {"tenant_id": tenant_id, "item_id": row["item_id"]}
                        return found, encode_cursor(last)
            last_key = out.get("LastEvaluatedKey")
            if not last_key:
                return found, None
            kwargs["ExclusiveStartKey"] = last_key

    def iter_items(self, tenant_id: str) -> Iterator[dict]:
        """Every item of the tenant (training reads the catalogue once per run)."""
        return self._readable(self.query_rows(KeyConditionExpression="tenant_id = :t",
                                              ExpressionAttributeValues=serialize({":t": tenant_id})))

    def deactivate(self, tenant_id: str, item_id: str, now: float) -> bool:
        """Marks an item inactive; False if the tenant has no such item."""
        try:
            self.db.update_item(
                TableName=self.name, Key=serialize({"tenant_id": tenant_id, "item_id": item_id}),
                UpdateExpression="SET active = :f, updated_at = :n",
                ConditionExpression="attribute_exists(item_id)",
                ExpressionAttributeValues=serialize({":f": False, ":n": now}))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True
