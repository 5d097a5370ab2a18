"""Catalogue items in the items table, keyed (tenant_id, item_id)."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterable, Iterator

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, deserialize, put_if_absent, serialize, store_error
from ..errors import InvalidArgumentError, StoreError

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
    """Catalogue items keyed (tenant_id, item_id)."""

    def upsert(self, tenant_id: str, items: list[dict], now: float) -> tuple[int, int]:
        """Writes items, keeping each existing item's created_at; returns (created, updated)."""
        existing = self.get_many(tenant_id, (i["id"] for i in items))
        self.write_items(tenant_id, items, existing, now)
        created = sum(1 for i in items if i["id"] not in existing)
        return created, len(items) - created

    @staticmethod
    def _row(tenant_id: str, item: dict, old: dict | None, now: float) -> dict:
        return {"tenant_id": tenant_id, "item_id": item["id"], "metadata": item.get("metadata") or {},
                "active": bool(item.get("active", True)),
                "created_at": old["created_at"] if old else now, "updated_at": now}

    def write_items(self, tenant_id: str, items: list[dict], existing: dict[str, dict], now: float) -> None:
        """Batch-writes items; those in `existing` keep their created_at."""
        self.batch_put_rows([self._row(tenant_id, i, existing.get(i["id"]), now) for i in items])

    def insert_absent(self, tenant_id: str, items: list[dict], now: float) -> list[bool | StoreError]:
        """Creates each item only if the tenant has no item with its id (a conditional put each):
        per item, True if created, False if it already existed (nothing written), or the error."""
        return put_if_absent(self.db, self.name, [self._row(tenant_id, i, None, now) for i in items], "item_id")

    def get(self, tenant_id: str, item_id: str) -> dict | None:
        return self.get_row({"tenant_id": tenant_id, "item_id": item_id})

    def get_many(self, tenant_id: str, item_ids: Iterable[str]) -> dict[str, dict]:
        ids = list(dict.fromkeys(item_ids))
        return {r["item_id"]: r for r in self.batch_get_rows([{"tenant_id": tenant_id, "item_id": i} for i in ids])}

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
            for row in map(deserialize, out.get("Items", [])):
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
        return self.query_rows(KeyConditionExpression="tenant_id = :t", ExpressionAttributeValues=serialize({":t": tenant_id}))

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
