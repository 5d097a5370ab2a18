"""The exposure log in the exposures table: every served list, keyed by tenant and pseudonymous
user, read back for frequency caps and exported for attribution. Rows expire after RETENTION_S."""

from __future__ import annotations

from typing import Iterator

from ..aws.dynamo import Table, batch_delete, serialize


class ExposureStore(Table):
    RETENTION_S = 30 * 86400

    @staticmethod
    def _pk(tenant_id: str, user_key: str) -> str:
        return f"{tenant_id}#{user_key}"

    def put(self, record: dict) -> None:
        """Writes one exposure.v1 record (as records.exposure_record builds it)."""
        sk = f"{int(record['ts'] * 1000):015d}#{record['request_id']}#{record.get('placement') or '-'}"
        self.put_row({**record, "pk": self._pk(record["tenant_id"], record["user_key"]), "sk": sk,
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
