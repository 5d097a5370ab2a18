"""Interaction events: the user history (interactions table), the session (sessions table) and
the event-id claims that make ingestion idempotent; read back by user, session and tenant."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, batch_delete, batch_put, conditional_failure, serialize, store_error

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
        self.interactions = Table(interactions_table, dynamodb)
        self.sessions = Table(sessions_table, dynamodb)

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
        if event.get("expires_at"):  # the tenant's interaction TTL (tenancy.model.Tenant.interaction_ttl_days)
            body["expires_at"] = event["expires_at"]
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
            if not conditional_failure(exc):
                raise store_error("put_item", exc) from exc
        row = self.interactions.get_row(key, consistent=True)
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
        batch_put(self.db, rows)
        return accepted, duplicates

    def recent_for_user(self, tenant_id: str, user_id: str, limit: int) -> list[dict]:
        """The user's latest events, newest first."""
        return list(self._limited(self.interactions, f"{tenant_id}#user#{user_id}", limit))

    def recent_for_session(self, tenant_id: str, session_id: str, limit: int) -> list[dict]:
        rows = list(self._limited(self.sessions, f"{tenant_id}#session#{session_id}", limit))
        now = time.time()
        return [r for r in rows if r.get("expires_at", now + 1) > now]  # TTL deletion is lazy

    @staticmethod
    def _limited(table: Table, pk: str, limit: int) -> Iterator[dict]:
        rows = table.query_rows(KeyConditionExpression="pk = :p", ExpressionAttributeValues=serialize({":p": pk}),
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
        return self.interactions.query_rows(IndexName="by_tenant", KeyConditionExpression=cond,
                                        ExpressionAttributeValues=serialize(values))

    def recent_tenant_events(self, tenant_id: str, limit: int) -> list[dict]:
        """The tenant's latest `limit` user events, newest first (one bounded GSI query)."""
        return list(self._limited_index(tenant_id, limit))

    def _limited_index(self, tenant_id: str, limit: int) -> Iterator[dict]:
        rows = self.interactions.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ScanIndexForward=False, Limit=min(limit, 1000))
        for n, row in enumerate(rows):
            if n >= limit:
                return
            yield row

    def tenant_user_ids(self, tenant_id: str) -> list[str]:
        """Every user with events, sorted (one pass over the by_tenant index; batch planning)."""
        rows = self.interactions.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ProjectionExpression="user_id")
        return sorted({r["user_id"] for r in rows if r.get("user_id")})

    def latest_sort_key(self, tenant_id: str) -> str:
        rows = self.interactions.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ScanIndexForward=False, Limit=1)
        row = next(rows, None)
        return row["sk"] if row else ""

    # ------------------------------------------------------------------ erasure (users.erasure)
    def user_history(self, tenant_id: str, user_id: str) -> list[dict]:
        """Every history row of the user, whole (the erasure reads the event ids and sessions they name)."""
        return list(self.interactions.query_rows(KeyConditionExpression="pk = :p", ConsistentRead=True,
                                                 ExpressionAttributeValues=serialize(
                                                     {":p": f"{tenant_id}#user#{user_id}"})))

    def session_events(self, tenant_id: str, session_id: str) -> list[dict]:
        """Every row of the session, expired ones included (TTL deletion is lazy)."""
        return list(self.sessions.query_rows(KeyConditionExpression="pk = :p", ConsistentRead=True,
                                             ExpressionAttributeValues=serialize(
                                                 {":p": f"{tenant_id}#session#{session_id}"})))

    def delete_event_claims(self, tenant_id: str, event_ids: list[str]) -> int:
        """Deletes the event-id claim markers (each holds its whole event, user id included)."""
        keys = [{"pk": f"{tenant_id}#event#{e}", "sk": "-"} for e in dict.fromkeys(event_ids)]
        return batch_delete(self.db, [(self.interactions.name, k) for k in keys])

    def delete_session_rows(self, tenant_id: str, session_id: str, sort_keys: list[str]) -> int:
        pk = f"{tenant_id}#session#{session_id}"
        return batch_delete(self.db, [(self.sessions.name, {"pk": pk, "sk": sk}) for sk in dict.fromkeys(sort_keys)])

    def delete_user_rows(self, tenant_id: str, user_id: str, sort_keys: list[str]) -> int:
        """Deletes history rows of the user (and so their entries in the by_tenant index training reads)."""
        pk = f"{tenant_id}#user#{user_id}"
        return batch_delete(self.db, [(self.interactions.name, {"pk": pk, "sk": sk})
                                      for sk in dict.fromkeys(sort_keys)])
