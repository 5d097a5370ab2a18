"""Each tenant's nightly batch setting: `nightly_batch` on its row in the tenants table, read by the
nightly schedule. (The lists themselves are ranking.stored_lists.)"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import NotFoundError


class NightlySettingStore(Table):
    @staticmethod
    def _key(tenant_id: str) -> dict:
        return {"pk": f"tenant#{tenant_id}"}

    def set(self, tenant_id: str, setting: dict | None) -> None:
        """Sets (or, with None, removes) `nightly_batch`; NotFoundError for an unknown tenant."""
        kwargs: dict[str, Any] = {"UpdateExpression": "REMOVE nightly_batch"}
        if setting is not None:
            kwargs = {"UpdateExpression": "SET nightly_batch = :s",
                      "ExpressionAttributeValues": serialize({":s": setting})}
        try:
            self.db.update_item(TableName=self.name, Key=serialize(self._key(tenant_id)),
                                ConditionExpression="attribute_exists(pk)", **kwargs)
        except ClientError as exc:
            if conditional_failure(exc):
                raise NotFoundError(f"tenant {tenant_id!r} not found") from exc
            raise store_error("update_item", exc) from exc

    def get(self, tenant_id: str) -> dict | None:
        row = self.get_row(self._key(tenant_id), consistent=True) or {}
        return row.get("nightly_batch")

    def all(self) -> list[tuple[str, dict]]:
        """(tenant id, setting) of every tenant that enabled nightly batches (a scan of a small table)."""
        return sorted(((row["tenant_id"], row["nightly_batch"]) for row in self.scan_rows()
                       if row["pk"].startswith("tenant#") and row.get("nightly_batch")), key=lambda r: r[0])
