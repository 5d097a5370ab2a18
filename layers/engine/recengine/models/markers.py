"""How far each tenant's training has read: `trained_through` (the sort key of the newest event
trained on) on the tenant's row in the tenants table; the schedule skips tenants with nothing newer."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, serialize, store_error


class TrainedMarkerStore(Table):
    @staticmethod
    def _key(tenant_id: str) -> dict:
        return {"pk": f"tenant#{tenant_id}"}

    def trained_marker(self, tenant_id: str) -> str:
        row = self.get_row(self._key(tenant_id), consistent=True) or {}
        return row.get("trained_through", "")

    def set_trained_marker(self, tenant_id: str, marker: str) -> None:
        try:
            self.db.update_item(TableName=self.name, Key=serialize(self._key(tenant_id)),
                                UpdateExpression="SET trained_through = :m",
                                ExpressionAttributeValues=serialize({":m": marker}))
        except ClientError as exc:
            raise store_error("update_item", exc) from exc
