"""The exposure log in the exposures table: every served list, keyed by tenant and pseudonymous
user, read back for frequency caps and exported for attribution. Rows expire after RETENTION_S."""

from __future__ import annotations

from typing import Iterator

from ..aws.dynamo import CallFailed, Table, batch_delete, conditional_failure, serialize, store_error


class ExposureStore(Table):
    """Exposures under the customer's partition (`sk = <ms>#<request>#<placement>`), found by their
    request id through the GSI by_request (`request_key = <tenant>#<request>`); the outcomes recorded
    by the Respond API in the same partition (`sk = #outcome#...`, outside the exposures' time range),
    so that a customer's erasure deletes them together."""

    RETENTION_S = 30 * 86400
    OUTCOME_PREFIX = "#outcome#"

    @staticmethod
    def _pk(tenant_id: str, user_key: str) -> str:
        return f"{tenant_id}#{user_key}"

    @staticmethod
    def request_key(tenant_id: str, request_id: str) -> str:
        return f"{tenant_id}#{request_id}"

    def put(self, record: dict) -> None:
        """Writes one exposure.v1 record (as records.exposure_record builds it)."""
        sk = f"{int(record['ts'] * 1000):015d}#{record['request_id']}#{record.get('placement') or '-'}"
        self.put_row({**record, "pk": self._pk(record["tenant_id"], record["user_key"]), "sk": sk,
                      "request_key": self.request_key(record["tenant_id"], record["request_id"]),
                      "expires_at": int(record["ts"]) + self.RETENTION_S})

    def by_request(self, tenant_id: str, request_id: str) -> list[dict]:
        """The exposures (one per list) of the tenant's request `request_id`, as exposure.v1 records; []
        when there is none (never served, expired, or erased). The index is eventually consistent: an
        exposure written a moment ago may not be found yet."""
        rows = self.query_rows(IndexName="by_request", KeyConditionExpression="request_key = :r",
                               ExpressionAttributeValues=serialize({":r": self.request_key(tenant_id, request_id)}))
        return [self.as_record(r) for r in rows]

    def put_outcome(self, record: dict) -> bool:
        """Stores an outcome.v1 record once per (request, offer, type): False when that outcome of that
        decision is already stored (nothing written; a retry of the same response)."""
        row = {**record, "pk": self._pk(record["tenant_id"], record["user_key"]),
               "sk": f"{self.OUTCOME_PREFIX}{record['request_id']}#{record['item_id']}#{record['type']}",
               "expires_at": int(record["ts"]) + self.RETENTION_S}
        try:
            self.db.put_item(TableName=self.name, Item=serialize(row), ConditionExpression="attribute_not_exists(sk)")
        except CallFailed as exc:
            if conditional_failure(exc):
                return False
            raise store_error("put_item", exc) from exc
        return True

    def outcomes(self, tenant_id: str, user_key: str, since_ts: float = 0.0) -> list[dict]:
        """The customer's stored outcomes since `since_ts` (what contact policies' cooldowns read),
        newest first, as outcome.v1 records."""
        rows = self.query_rows(KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                               ExpressionAttributeValues=serialize({":p": self._pk(tenant_id, user_key),
                                                                    ":s": self.OUTCOME_PREFIX}))
        found = [self._outcome(r) for r in rows]
        return sorted((r for r in found if r["ts"] >= since_ts), key=lambda r: r["ts"], reverse=True)

    def tenant_outcomes(self, tenant_id: str) -> Iterator[dict]:
        """Every outcome the Respond API stored for the tenant (GSI by_tenant), as outcome.v1 records."""
        rows = self.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t AND begins_with(sk, :s)",
                               ExpressionAttributeValues=serialize({":t": tenant_id, ":s": self.OUTCOME_PREFIX}))
        return (self._outcome(r) for r in rows)

    @staticmethod
    def _outcome(row: dict) -> dict:
        record = {k: v for k, v in row.items() if k not in ("pk", "sk", "expires_at")}
        record["ts"] = float(record["ts"])
        record["value"] = None if record.get("value") is None else float(record["value"])  # the store drops nulls
        return record

    NULLABLE = ("session_key", "surface", "placement", "model_id")

    @classmethod
    def as_record(cls, row: dict) -> dict:
        """The exposure.v1 record a row holds (the store drops nulls and adds its keys)."""
        record = {k: v for k, v in row.items() if k not in ("pk", "sk", "expires_at", "request_key")}
        for name in cls.NULLABLE:
            record.setdefault(name, None)
        record["items"] = [{"id": i["id"], "position": int(i["position"]), "score": float(i["score"])}
                           for i in record.get("items") or ()]
        record["ts"] = float(record["ts"])
        return record

    def recent(self, tenant_id: str, user_key: str, since_ts: float, limit: int = 500) -> list[dict]:
        """The user's exposures since `since_ts`, newest first (at most `limit`)."""
        rows = self.query_rows(KeyConditionExpression="pk = :p AND sk >= :s",
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
        return self.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t AND sk >= :s",
                           ExpressionAttributeValues=serialize({":t": tenant_id,
                                                                ":s": f"{int(since_ts * 1000):015d}"}))

    def delete_user(self, tenant_id: str, user_key: str) -> int:
        """Deletes every exposure stored under the pseudonymous key (a user's erasure); returns how many."""
        rows = self.query_rows(KeyConditionExpression="pk = :p", ProjectionExpression="pk, sk", ConsistentRead=True,
                               ExpressionAttributeValues=serialize({":p": self._pk(tenant_id, user_key)}))
        return batch_delete(self.db, [(self.name, {"pk": r["pk"], "sk": r["sk"]}) for r in rows])
