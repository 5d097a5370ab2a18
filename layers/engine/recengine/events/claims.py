"""Event-id claims: a `<tenant>#event#<id>` row in the interactions table makes a caller's event id
idempotent per tenant. A claim holds the event (with the timestamp the first attempt gave it) and its
fingerprint. Claims carry no tenant_id, so they stay out of the by_tenant index.

A claim is written in ONE TransactWriteItems with the event's history rows (`claim_item` + `commit`,
docs/adr/0002-ingest-round-trips.md): its condition (`attribute_not_exists`) and the rows land
together or not at all, so it is `stored` from the start and no second write completes it, and a
request's events take one round trip. Claims written before that were `pending` until their rows
landed, then marked `stored` (`mark_stored`); a retry that finds one still pending writes its rows
and completes it, so nothing is lost."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.dynamo import Table, conditional_failure, deserialize, serialize, store_error

CHECK_FAILED = "ConditionalCheckFailed"  # a cancellation reason: that item's condition refused it
PENDING, STORED, LEGACY = "pending", "stored", "legacy"  # LEGACY: claimed before claims had a state


def claim_key(tenant_id: str, event_id: str) -> dict:
    return {"pk": f"{tenant_id}#event#{event_id}", "sk": "-"}


@dataclass(frozen=True)
class Claim:
    """A claim found on the table: the event the first attempt stored, its fingerprint (None for a
    legacy claim) and its state."""

    event: dict
    fingerprint: str | None
    state: str


class ClaimStore(Table):
    def claim_item(self, tenant_id: str, event: dict, fingerprint: str) -> dict:
        """The claim as a transaction item, already `stored` (it commits with the event's rows): refused
        when the id is claimed, and the refusal then carries the claim found (ALL_OLD)."""
        row = {**claim_key(tenant_id, event["event_id"]), "event": event, "fingerprint": fingerprint, "state": STORED}
        return {"Put": {"TableName": self.name, "Item": serialize(row), "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    def commit(self, items: list[dict]) -> list[dict] | None:
        """One TransactWriteItems, all or nothing: None when it committed, else its cancellation reasons,
        one per item (`Code` CHECK_FAILED for a refused condition, with the `Item` it found).
        StoreError when the call itself failed (throttled, timed out)."""
        try:
            # the token makes the SDK's own retry of a transaction that did land a no-op, not a refused claim
            self.db.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return exc.response.get("CancellationReasons") or [{} for _ in items]
            raise store_error("transact_write_items", exc) from exc
        except BotoCoreError as exc:
            raise store_error("transact_write_items", exc) from exc
        return None

    @staticmethod
    def found(item: dict | None) -> Claim | None:
        """The claim a refused claim item found (None when the refusal did not carry it)."""
        if not item:
            return None
        row = deserialize(item)
        return Claim(row.get("event") or {}, row.get("fingerprint"), row.get("state", LEGACY))

    def claim(self, tenant_id: str, event: dict, fingerprint: str) -> Claim | None:
        """Claims the event id (a conditional put of a pending claim); None if this call claimed it,
        else the claim already there. StoreError if the table could not be reached."""
        key = claim_key(tenant_id, event["event_id"])
        row = {**key, "event": event, "fingerprint": fingerprint, "state": PENDING}
        try:
            self.db.put_item(TableName=self.name, Item=serialize(row), ConditionExpression="attribute_not_exists(pk)")
            return None
        except ClientError as exc:
            if not conditional_failure(exc):
                raise store_error("put_item", exc) from exc
        found = self.get_row(key, consistent=True)
        if found is None:  # taken back between the put and the read: claim it again
            return self.claim(tenant_id, event, fingerprint)
        return Claim(found.get("event") or {}, found.get("fingerprint"), found.get("state", LEGACY))

    def mark_stored(self, tenant_id: str, event_id: str) -> bool:
        """pending -> stored once the event's rows have landed: True for the call that moved it, False
        when another attempt already had (a concurrent retry), StoreError when the table failed."""
        try:
            self.db.update_item(TableName=self.name, Key=serialize(claim_key(tenant_id, event_id)),
                                UpdateExpression="SET #s = :stored", ConditionExpression="#s = :pending",
                                ExpressionAttributeNames={"#s": "state"},
                                ExpressionAttributeValues=serialize({":stored": STORED, ":pending": PENDING}))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True
