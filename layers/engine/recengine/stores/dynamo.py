"""DynamoDB stores. Every key carries the tenant id first, so no query can cross tenants."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from ..errors import ConflictError, NotFoundError, StoreError
from .aws import client, deserialize, serialize

def _fail(action: str, exc: ClientError) -> StoreError:
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    return StoreError(f"{action} failed ({code})")


class _Table:
    def __init__(self, name: str, dynamodb: Any = None):
        self.name = name
        self._client = dynamodb

    @property
    def db(self) -> Any:
        if self._client is None:
            self._client = client("dynamodb")
        return self._client

    def _get(self, key: dict, consistent: bool = False) -> dict | None:
        try:
            out = self.db.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=consistent)
        except ClientError as exc:
            raise _fail("get_item", exc) from exc
        return deserialize(out["Item"]) if "Item" in out else None

    def _put(self, item: dict, **kwargs: Any) -> None:
        try:
            self.db.put_item(TableName=self.name, Item=serialize(item), **kwargs)
        except ClientError as exc:
            raise _fail("put_item", exc) from exc

    def _query(self, **kwargs: Any) -> Iterator[dict]:
        """Yields every matching item across pages."""
        kwargs["TableName"] = self.name
        while True:
            try:
                out = self.db.query(**kwargs)
            except ClientError as exc:
                raise _fail("query", exc) from exc
            for item in out.get("Items", []):
                yield deserialize(item)
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _scan(self) -> Iterator[dict]:
        """Every item of the table across pages (small tables only)."""
        kwargs: dict[str, Any] = {"TableName": self.name}
        while True:
            try:
                out = self.db.scan(**kwargs)
            except ClientError as exc:
                raise _fail("scan", exc) from exc
            yield from map(deserialize, out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _batch_get(self, keys: list[dict]) -> list[dict]:
        found: list[dict] = []
        for start in range(0, len(keys), 100):
            request = {self.name: {"Keys": [serialize(k) for k in keys[start:start + 100]]}}
            attempt = 0
            while request:
                try:
                    out = self.db.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    raise _fail("batch_get_item", exc) from exc
                found.extend(deserialize(i) for i in out.get("Responses", {}).get(self.name, []))
                request = out.get("UnprocessedKeys") or {}
                attempt += 1
                if request:
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))
        return found

    def _batch_put(self, items: list[dict]) -> None:
        _batch_put_rows(self.db, [(self.name, i) for i in items])


def _batch_put_rows(db: Any, rows: list[tuple[str, dict]]) -> None:
    """BatchWriteItem across tables, 25 at a time, retrying unprocessed items with backoff."""
    for start in range(0, len(rows), 25):
        request: dict[str, list] = {}
        for table, item in rows[start:start + 25]:
            request.setdefault(table, []).append({"PutRequest": {"Item": serialize(item)}})
        attempt = 0
        while request:
            try:
                out = db.batch_write_item(RequestItems=request)
            except ClientError as exc:
                raise _fail("batch_write_item", exc) from exc
            request = out.get("UnprocessedItems") or {}
            attempt += 1
            if request:
                if attempt > 8:
                    raise StoreError("batch_write_item left items unprocessed")
                time.sleep(min(0.05 * 2 ** attempt, 2.0))



_put_pool: ThreadPoolExecutor | None = None


def _put_if_absent(db: Any, table: str, rows: list[dict], key_attr: str) -> list[bool | StoreError]:
    """One conditional put per row (in parallel): True if written, False if a row with that key
    already existed (nothing written), or the StoreError of a failed call."""
    global _put_pool
    if _put_pool is None:
        _put_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="put-if-absent")

    def put(row: dict) -> bool | StoreError:
        try:
            db.put_item(TableName=table, Item=serialize(row), ConditionExpression=f"attribute_not_exists({key_attr})")
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            return _fail("put_item", exc)

    return list(_put_pool.map(put, rows)) if len(rows) > 1 else [put(r) for r in rows]

# ---------------------------------------------------------------------- tenants
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    plan: str
    created_at: float

    def __post_init__(self) -> None:
        # Tenant ids open every key ("<tenant>#user#..."): no '#' or other separators allowed.
        if not TENANT_ID.match(self.tenant_id):
            raise ValueError(f"invalid tenant id {self.tenant_id!r}")


class TenantStore(_Table):
    """Tenant records (`tenant#<id>`) and API key id -> tenant mappings (`key#<api key id>`)."""

    def put_tenant(self, tenant: Tenant) -> None:
        self._put({"pk": f"tenant#{tenant.tenant_id}", "tenant_id": tenant.tenant_id, "name": tenant.name,
                   "plan": tenant.plan, "created_at": tenant.created_at})

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = self._get({"pk": f"tenant#{tenant_id}"})
        return Tenant(row["tenant_id"], row["name"], row["plan"], row["created_at"]) if row else None

    def bind_key(self, api_key_id: str, tenant_id: str) -> None:
        self._put({"pk": f"key#{api_key_id}", "tenant_id": tenant_id, "created_at": time.time()})

    def tenant_for_key(self, api_key_id: str) -> Tenant | None:
        row = self._get({"pk": f"key#{api_key_id}"})
        if not row or row.get("revoked"):
            return None
        return self.get_tenant(row["tenant_id"])

    def list_tenants(self) -> list[Tenant]:
        # A scan of a small table (one row per tenant and key); run by the scheduled trainer only.
        return [Tenant(row["tenant_id"], row["name"], row["plan"], row["created_at"])
                for row in self._scan() if row["pk"].startswith("tenant#")]

    def insert_tenant(self, tenant: Tenant) -> None:
        """Records a new tenant; ConflictError if the id is taken."""
        try:
            self.db.put_item(TableName=self.name, Item=serialize({
                "pk": f"tenant#{tenant.tenant_id}", "tenant_id": tenant.tenant_id, "name": tenant.name,
                "plan": tenant.plan, "created_at": tenant.created_at}), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(f"tenant {tenant.tenant_id!r} already exists") from exc
            raise _fail("put_item", exc) from exc

    def set_plan(self, tenant_id: str, plan: str) -> None:
        try:
            self.db.update_item(TableName=self.name, Key=serialize({"pk": f"tenant#{tenant_id}"}),
                                UpdateExpression="SET #plan = :p", ConditionExpression="attribute_exists(pk)",
                                ExpressionAttributeNames={"#plan": "plan"},
                                ExpressionAttributeValues=serialize({":p": plan}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError(f"tenant {tenant_id!r} not found") from exc
            raise _fail("update_item", exc) from exc

    def key_binding(self, api_key_id: str) -> dict | None:
        """The `key#<id>` row (tenant_id, created_at, revoked) or None."""
        return self._get({"pk": f"key#{api_key_id}"}, consistent=True)

    def revoke_key(self, api_key_id: str, now: float) -> None:
        """Marks the key revoked: tenant_for_key stops resolving it."""
        try:
            self.db.update_item(TableName=self.name, Key=serialize({"pk": f"key#{api_key_id}"}),
                                UpdateExpression="SET revoked = :t, revoked_at = :n",
                                ConditionExpression="attribute_exists(pk)",
                                ExpressionAttributeValues=serialize({":t": True, ":n": now}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError(f"API key {api_key_id!r} is not bound to a tenant") from exc
            raise _fail("update_item", exc) from exc

    def key_bindings(self) -> list[dict]:
        """Every `key#<id>` row, with `api_key_id` added (a scan of a small table; admin CLI only)."""
        return [{**row, "api_key_id": row["pk"].removeprefix("key#")} for row in self._scan()
                if row["pk"].startswith("key#")]

    def trained_marker(self, tenant_id: str) -> str:
        row = self._get({"pk": f"tenant#{tenant_id}"}, consistent=True) or {}
        return row.get("trained_through", "")

    def set_trained_marker(self, tenant_id: str, marker: str) -> None:
        try:
            self.db.update_item(TableName=self.name, Key=serialize({"pk": f"tenant#{tenant_id}"}),
                                UpdateExpression="SET trained_through = :m",
                                ExpressionAttributeValues=serialize({":m": marker}))
        except ClientError as exc:
            raise _fail("update_item", exc) from exc

    # The nightly batch generation setting lives on the tenant record, beside the plan: one row
    # read per tenant by the schedule, and no other table for the admin CLI to keep in step.
    def set_nightly_batch(self, tenant_id: str, setting: dict | None) -> None:
        """Sets (or, with None, removes) `nightly_batch`; NotFoundError for an unknown tenant."""
        kwargs: dict[str, Any] = {"UpdateExpression": "REMOVE nightly_batch"}
        if setting is not None:
            kwargs = {"UpdateExpression": "SET nightly_batch = :s",
                      "ExpressionAttributeValues": serialize({":s": setting})}
        try:
            self.db.update_item(TableName=self.name, Key=serialize({"pk": f"tenant#{tenant_id}"}),
                                ConditionExpression="attribute_exists(pk)", **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError(f"tenant {tenant_id!r} not found") from exc
            raise _fail("update_item", exc) from exc

    def nightly_batch(self, tenant_id: str) -> dict | None:
        row = self._get({"pk": f"tenant#{tenant_id}"}, consistent=True) or {}
        return row.get("nightly_batch")

    def nightly_batches(self) -> list[tuple[str, dict]]:
        """(tenant id, setting) of every tenant that enabled nightly batches (a scan of a small table)."""
        return sorted(((row["tenant_id"], row["nightly_batch"]) for row in self._scan()
                       if row["pk"].startswith("tenant#") and row.get("nightly_batch")), key=lambda r: r[0])


# ---------------------------------------------------------------------- catalogue
def encode_cursor(key: dict | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str) -> dict:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(value, dict):
        raise ValueError("invalid cursor")
    return value


class ItemStore(_Table):
    """Catalogue items keyed (tenant_id, item_id)."""

    def upsert(self, tenant_id: str, items: list[dict], now: float) -> tuple[int, int]:
        """Writes items, keeping each existing item's created_at; returns (created, updated)."""
        existing = self.get_many(tenant_id, (i["id"] for i in items))
        self.write(tenant_id, items, existing, now)
        created = sum(1 for i in items if i["id"] not in existing)
        return created, len(items) - created

    @staticmethod
    def _row(tenant_id: str, item: dict, old: dict | None, now: float) -> dict:
        return {"tenant_id": tenant_id, "item_id": item["id"], "metadata": item.get("metadata") or {},
                "active": bool(item.get("active", True)),
                "created_at": old["created_at"] if old else now, "updated_at": now}

    def write(self, tenant_id: str, items: list[dict], existing: dict[str, dict], now: float) -> None:
        """Batch-writes items; those in `existing` keep their created_at."""
        self._batch_put([self._row(tenant_id, i, existing.get(i["id"]), now) for i in items])

    def insert_absent(self, tenant_id: str, items: list[dict], now: float) -> list[bool | StoreError]:
        """Creates each item only if the tenant has no item with its id (a conditional put each):
        per item, True if created, False if it already existed (nothing written), or the error."""
        return _put_if_absent(self.db, self.name, [self._row(tenant_id, i, None, now) for i in items], "item_id")

    def get(self, tenant_id: str, item_id: str) -> dict | None:
        return self._get({"tenant_id": tenant_id, "item_id": item_id})

    def get_many(self, tenant_id: str, item_ids: Iterable[str]) -> dict[str, dict]:
        ids = list(dict.fromkeys(item_ids))
        return {r["item_id"]: r for r in self._batch_get([{"tenant_id": tenant_id, "item_id": i} for i in ids])}

    def page(self, tenant_id: str, limit: int, cursor: str | None, search: str | None) -> tuple[list[dict], str | None]:
        """One page of the tenant's items in id order; `search` matches id and metadata text."""
        kwargs: dict[str, Any] = {
            "TableName": self.name, "KeyConditionExpression": "tenant_id = :t",
            "ExpressionAttributeValues": serialize({":t": tenant_id}),
        }
        if cursor:
            start = decode_cursor(cursor)
            if start.get("tenant_id") != tenant_id or not isinstance(start.get("item_id"), str):
                raise ValueError("invalid cursor")
            kwargs["ExclusiveStartKey"] = serialize(start)
        needle = search.lower() if search else None
        found: list[dict] = []
        while True:
            kwargs["Limit"] = max(limit - len(found), 1) if needle is None else 200
            try:
                out = self.db.query(**kwargs)
            except ClientError as exc:
                raise _fail("query", exc) from exc
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
        return self._query(KeyConditionExpression="tenant_id = :t", ExpressionAttributeValues=serialize({":t": tenant_id}))

    def deactivate(self, tenant_id: str, item_id: str, now: float) -> bool:
        """Marks an item inactive; False if the tenant has no such item."""
        try:
            self.db.update_item(
                TableName=self.name, Key=serialize({"tenant_id": tenant_id, "item_id": item_id}),
                UpdateExpression="SET active = :f, updated_at = :n",
                ConditionExpression="attribute_exists(item_id)",
                ExpressionAttributeValues=serialize({":f": False, ":n": now}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise _fail("update_item", exc) from exc
        return True


# ---------------------------------------------------------------------- interactions + sessions
def event_sort_key(ts: float, event_id: str) -> str:
    """Sorts by time (zero-padded milliseconds), unique by event id."""
    return f"{int(ts * 1000):015d}#{event_id}"


class InteractionStore:
    """Appends events to the user history (interactions table) and the session (sessions table).

    A caller-supplied event_id is claimed first with a conditional put of a marker row that holds
    the whole event; the history rows follow in batch writes. A repeat finds the marker, is
    reported as a duplicate, and rewrites the original rows (same keys, so idempotent): an attempt
    that failed half-way is completed by its retry, and nothing is counted twice."""

    SESSION_TTL_S = 7 * 86400
    _pool: ThreadPoolExecutor | None = None

    def __init__(self, interactions_table: str, sessions_table: str, dynamodb: Any = None):
        self.interactions = _Table(interactions_table, dynamodb)
        self.sessions = _Table(sessions_table, dynamodb)

    @property
    def db(self) -> Any:
        return self.interactions.db

    @classmethod
    def _executor(cls) -> ThreadPoolExecutor:
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="claim")
        return cls._pool

    def _rows(self, tenant_id: str, event: dict) -> list[tuple[str, dict]]:
        sk = event_sort_key(event["timestamp"], event["event_id"])
        body = {"item_id": event["item_id"], "type": event["type"], "weight": event["weight"],
                "ts": event["timestamp"], "event_id": event["event_id"], "request_id": event.get("request_id"),
                "context": event.get("context") or None, "user_id": event.get("user_id"),
                "session_id": event.get("session_id")}
        rows = []
        if event.get("user_id"):
            # tenant_id puts user rows (only) into the by_tenant index that training reads.
            rows.append((self.interactions.name, {**body, "pk": f"{tenant_id}#user#{event['user_id']}", "sk": sk,
                                                  "tenant_id": tenant_id}))
        if event.get("session_id"):
            rows.append((self.sessions.name, {**body, "pk": f"{tenant_id}#session#{event['session_id']}", "sk": sk,
                                              "expires_at": int(event["timestamp"]) + self.SESSION_TTL_S}))
        return rows

    def _claim(self, tenant_id: str, event: dict) -> dict | None:
        """Claims the event id; returns None if new, else the event stored by the first attempt."""
        key = {"pk": f"{tenant_id}#event#{event['event_id']}", "sk": "-"}
        stored = {k: v for k, v in event.items() if k != "dedupe"}
        try:
            self.db.put_item(TableName=self.interactions.name, Item=serialize({**key, "event": stored}),
                             ConditionExpression="attribute_not_exists(pk)")
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _fail("put_item", exc) from exc
        row = self.interactions._get(key, consistent=True)
        return row["event"] if row else event

    def append(self, tenant_id: str, events: list[dict]) -> tuple[list[str], list[str]]:
        """Writes events; returns (accepted event ids, duplicate event ids).

        Events with `dedupe` set carry a caller event_id and are claimed first; the others have
        fresh generated ids and need no claim."""
        to_claim = [e for e in events if e.get("dedupe")]
        claimed = dict(zip((id(e) for e in to_claim),
                           self._executor().map(lambda e: self._claim(tenant_id, e), to_claim)))
        accepted, duplicates, rows = [], [], []
        for event in events:
            previous = claimed.get(id(event))
            if previous is not None:
                duplicates.append(event["event_id"])
                rows.extend(self._rows(tenant_id, previous))  # completes a half-written first attempt
            else:
                accepted.append(event["event_id"])
                rows.extend(self._rows(tenant_id, event))
        _batch_put_rows(self.db, rows)
        return accepted, duplicates

    @staticmethod
    def _seen_user_key(tenant_id: str, user_id: str) -> dict:
        return {"pk": f"{tenant_id}#seenuser#{user_id}", "sk": "-"}

    def unseen_users(self, tenant_id: str, user_ids: Iterable[str]) -> list[str]:
        """The user ids that have no seen-user marker yet, in the given order."""
        ids = list(dict.fromkeys(user_ids))
        found = {r["pk"] for r in self.interactions._batch_get([self._seen_user_key(tenant_id, u) for u in ids])}
        return [u for u in ids if self._seen_user_key(tenant_id, u)["pk"] not in found]

    def mark_users_seen(self, tenant_id: str, user_ids: list[str], now: float) -> list[bool | StoreError]:
        """Writes each user's seen marker unless present: per user, True if this call wrote it,
        False if another writer had, or the error. Markers carry no tenant_id, so stay out of by_tenant."""
        rows = [{**self._seen_user_key(tenant_id, u), "first_seen_at": now} for u in user_ids]
        return _put_if_absent(self.db, self.interactions.name, rows, "pk")

    def recent_for_user(self, tenant_id: str, user_id: str, limit: int) -> list[dict]:
        """The user's latest events, newest first."""
        return list(self._limited(self.interactions, f"{tenant_id}#user#{user_id}", limit))

    def recent_for_session(self, tenant_id: str, session_id: str, limit: int) -> list[dict]:
        rows = list(self._limited(self.sessions, f"{tenant_id}#session#{session_id}", limit))
        now = time.time()
        return [r for r in rows if r.get("expires_at", now + 1) > now]  # TTL deletion is lazy

    @staticmethod
    def _limited(table: _Table, pk: str, limit: int) -> Iterator[dict]:
        rows = table._query(KeyConditionExpression="pk = :p", ExpressionAttributeValues=serialize({":p": pk}),
                            ScanIndexForward=False, Limit=limit)
        for n, row in enumerate(rows):
            if n >= limit:
                return
            yield row

    def tenant_events(self, tenant_id: str, after_sk: str = "") -> Iterator[dict]:
        """All the tenant's user events in time order (GSI by_tenant), optionally after a sort key."""
        cond, values = "tenant_id = :t", {":t": tenant_id}
        if after_sk:
            cond += " AND sk > :s"
            values[":s"] = after_sk
        return self.interactions._query(IndexName="by_tenant", KeyConditionExpression=cond,
                                        ExpressionAttributeValues=serialize(values))

    def recent_tenant_events(self, tenant_id: str, limit: int) -> list[dict]:
        """The tenant's latest `limit` user events, newest first (one bounded GSI query)."""
        return list(self._limited_index(tenant_id, limit))

    def _limited_index(self, tenant_id: str, limit: int) -> Iterator[dict]:
        rows = self.interactions._query(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ScanIndexForward=False, Limit=min(limit, 1000))
        for n, row in enumerate(rows):
            if n >= limit:
                return
            yield row

    def tenant_user_ids(self, tenant_id: str) -> list[str]:
        """Every user with events, sorted (one pass over the by_tenant index; batch planning)."""
        rows = self.interactions._query(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ProjectionExpression="user_id")
        return sorted({r["user_id"] for r in rows if r.get("user_id")})

    @staticmethod
    def _batch_key(tenant_id: str, user_id: str, algorithm: str) -> dict:
        # No tenant_id attribute: precomputed lists stay out of the by_tenant index.
        return {"pk": f"{tenant_id}#batch#{user_id}", "sk": f"algorithm#{algorithm}"}

    def put_batch_lists(self, tenant_id: str, lists: list[dict]) -> None:
        """Writes precomputed lists ({user_id, algorithm, items, model_id, job_id, generated_at}),
        one row per user and algorithm: a rewrite replaces the row, so retries add nothing."""
        rows = [{**lst, **self._batch_key(tenant_id, lst["user_id"], lst["algorithm"])} for lst in lists]
        _batch_put_rows(self.db, [(self.interactions.name, r) for r in rows])

    def batch_list(self, tenant_id: str, user_id: str, algorithm: str) -> dict | None:
        return self.interactions._get(self._batch_key(tenant_id, user_id, algorithm))

    def latest_sort_key(self, tenant_id: str) -> str:
        rows = self.interactions._query(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ScanIndexForward=False, Limit=1)
        row = next(rows, None)
        return row["sk"] if row else ""


# ---------------------------------------------------------------------- model registry
class ModelRegistry(_Table):
    """Model versions per tenant, and a `LIVE` pointer row naming the serving version."""

    LIVE = "LIVE"

    def put_version(self, tenant_id: str, record: dict) -> None:
        self._put({**record, "tenant_id": tenant_id})

    def get_version(self, tenant_id: str, model_id: str) -> dict | None:
        return self._get({"tenant_id": tenant_id, "model_id": model_id})

    def set_live(self, tenant_id: str, model_id: str, now: float) -> None:
        self._put({"tenant_id": tenant_id, "model_id": self.LIVE, "live_model_id": model_id, "updated_at": now})

    def live_model_id(self, tenant_id: str) -> str | None:
        row = self._get({"tenant_id": tenant_id, "model_id": self.LIVE})
        return row["live_model_id"] if row else None

    def versions(self, tenant_id: str) -> list[dict]:
        """The tenant's model versions (not the LIVE pointer nor job rows), oldest first."""
        rows = self._query(KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :m)",
                           ExpressionAttributeValues=serialize({":t": tenant_id, ":m": self.VERSION_PREFIX}))
        return sorted(rows, key=lambda r: (r.get("version", 0), r.get("created_at", 0)))

    def update_version(self, tenant_id: str, model_id: str, fields: dict) -> None:
        """Sets fields on an existing row (a None value removes the field); NotFoundError if none."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        sets = [f"{n} = :v{i}" for i, (n, k) in enumerate(names.items()) if fields[k] is not None]
        removed = [n for n, k in names.items() if fields[k] is None]
        expression = " ".join(part for part in (f"SET {', '.join(sets)}" if sets else "",
                                                 f"REMOVE {', '.join(removed)}" if removed else "") if part)
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names}
        values = {f":v{i}": fields[k] for i, k in enumerate(names.values()) if fields[k] is not None}
        if values:
            kwargs["ExpressionAttributeValues"] = serialize(values)
        try:
            self.db.update_item(TableName=self.name, Key=serialize({"tenant_id": tenant_id, "model_id": model_id}),
                                UpdateExpression=expression, ConditionExpression="attribute_exists(model_id)",
                                **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError(f"{model_id!r} not found") from exc
            raise _fail("update_item", exc) from exc

    # Jobs (on-demand training, batch generation) live beside the versions under `job#<id>`.
    JOB_PREFIX = "job#"
    VERSION_PREFIX = "model_"

    def put_job(self, tenant_id: str, job: dict) -> None:
        self._put({**job, "tenant_id": tenant_id, "model_id": self.JOB_PREFIX + job["job_id"]})

    def get_job(self, tenant_id: str, job_id: str) -> dict | None:
        row = self._get({"tenant_id": tenant_id, "model_id": self.JOB_PREFIX + job_id}, consistent=True)
        if row:
            row.pop("model_id", None)
        return row

    def update_job(self, tenant_id: str, job_id: str, fields: dict) -> None:
        self.update_version(tenant_id, self.JOB_PREFIX + job_id, fields)

    def update_job_if_unchanged(self, tenant_id: str, job_id: str, fields: dict, *, status: str,
                                progress_at: float | None, done_chunks: int | None) -> bool:
        """Writes `fields` only if the row still has this status, this heartbeat (None: none) and
        this many finished chunks (None: none); False when it has moved on meanwhile."""
        names = {"#s": "status", **{f"#f{i}": k for i, k in enumerate(fields)}}
        values: dict[str, Any] = {":s": status, **{f":f{i}": v for i, v in enumerate(fields.values())}}
        conditions = ["#s = :s"]
        if progress_at is None:
            conditions.append("attribute_not_exists(progress_at)")
        else:
            conditions.append("progress_at = :p")
            values[":p"] = progress_at
        if done_chunks:
            conditions.append("size(done_chunks) = :n")
            values[":n"] = done_chunks
        else:
            conditions.append("attribute_not_exists(done_chunks)")
        try:
            self.db.update_item(
                TableName=self.name, Key=serialize({"tenant_id": tenant_id, "model_id": self.JOB_PREFIX + job_id}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression=" AND ".join(conditions), ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise _fail("update_item", exc) from exc
        return True

    def jobs(self, tenant_id: str, kind: str) -> list[dict]:
        """The tenant's job rows of one kind (one query on the tenant's partition)."""
        rows = self._query(
            KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :j)", FilterExpression="#k = :k",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues=serialize({":t": tenant_id, ":j": self.JOB_PREFIX, ":k": kind}))
        return [{k: v for k, v in row.items() if k != "model_id"} for row in rows]

    def mark_chunk_done(self, tenant_id: str, job_id: str, chunk: int) -> int:
        """Adds the chunk to the job's set of finished chunks (idempotent); returns the set's size."""
        try:
            out = self.db.update_item(
                TableName=self.name, Key=serialize({"tenant_id": tenant_id, "model_id": self.JOB_PREFIX + job_id}),
                UpdateExpression="ADD done_chunks :c", ConditionExpression="attribute_exists(model_id)",
                ExpressionAttributeValues={":c": {"NS": [str(chunk)]}}, ReturnValues="UPDATED_NEW")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError(f"job {job_id!r} not found") from exc
            raise _fail("update_item", exc) from exc
        return len(out["Attributes"]["done_chunks"]["NS"])


class ExposureStore(_Table):
    """Every served list, keyed by tenant and pseudonymous user: read back for frequency caps and
    exported for attribution (joined with outcomes by request id). Rows expire after RETENTION_S."""

    RETENTION_S = 30 * 86400

    @staticmethod
    def _pk(tenant_id: str, user_key: str) -> str:
        return f"{tenant_id}#{user_key}"

    def put(self, record: dict) -> None:
        """Writes one exposure.v1 record (as records.exposure_record builds it)."""
        sk = f"{int(record['ts'] * 1000):015d}#{record['request_id']}#{record.get('placement') or '-'}"
        self._put({**record, "pk": self._pk(record["tenant_id"], record["user_key"]), "sk": sk,
                   "expires_at": int(record["ts"]) + self.RETENTION_S})

    NULLABLE = ("session_key", "surface", "placement", "model_id")

    @classmethod
    def as_record(cls, row: dict) -> dict:
        """The exposure.v1 record a row holds (the store drops nulls and adds its keys)."""
        record = {k: v for k, v in row.items() if k not in ("pk", "sk", "expires_at")}
        for name in cls.NULLABLE:
            record.setdefault(name, None)
        record["items"] = [{"id": i["id"], "position": int(i["position"]), "score": float(i["score"])}
                           for i in record.get("items") or ()]
        record["ts"] = float(record["ts"])
        return record

    def recent(self, tenant_id: str, user_key: str, since_ts: float, limit: int = 500) -> list[dict]:
        """The user's exposures since `since_ts`, newest first (at most `limit`)."""
        rows = self._query(KeyConditionExpression="pk = :p AND sk >= :s",
                           ExpressionAttributeValues=serialize({":p": self._pk(tenant_id, user_key),
                                                                ":s": f"{int(since_ts * 1000):015d}"}),
                           ScanIndexForward=False, Limit=min(limit, 1000))
        out = []
        for row in rows:
            out.append(row)
            if len(out) >= limit:
                break
        return out

    def tenant_exposures(self, tenant_id: str, since_ts: float = 0.0) -> Iterator[dict]:
        """All the tenant's exposures in time order (GSI by_tenant), for export."""
        return self._query(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t AND sk >= :s",
                           ExpressionAttributeValues=serialize({":t": tenant_id,
                                                                ":s": f"{int(since_ts * 1000):015d}"}))
