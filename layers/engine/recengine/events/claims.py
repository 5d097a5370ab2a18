"""Event-id claims: a `<tenant>#event#<id>` row in the interactions table makes a caller's event id
idempotent per tenant. A claim holds the event (with the timestamp the first attempt gave it) and its
fingerprint, and is `pending` until the event's rows have landed, then `stored`. A claim is never
the end of an event whose rows failed: its retry finds it pending, writes the claim's rows and
completes it. Claims carry no tenant_id, so they stay out of the by_tenant index."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error

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
