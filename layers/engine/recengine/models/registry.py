"""The model registry in the models table: each tenant's versions (`model_<...>` rows) and the
`LIVE` pointer row naming the version that serves."""

from __future__ import annotations

from ..aws.dynamo import Table, serialize
from ..errors import NotFoundError

class ModelRegistry(Table):
    """Model versions per tenant, and a `LIVE` pointer row naming the serving version."""

    LIVE = "LIVE"
    VERSION_PREFIX = "model_"

    def put_version(self, tenant_id: str, record: dict) -> None:
        self.put_row({**record, "tenant_id": tenant_id})

    def get_version(self, tenant_id: str, model_id: str) -> dict | None:
        return self.get_row({"tenant_id": tenant_id, "model_id": model_id})

    def set_live(self, tenant_id: str, model_id: str, now: float) -> None:
        self.put_row({"tenant_id": tenant_id, "model_id": self.LIVE, "live_model_id": model_id, "updated_at": now})

    def live_model_id(self, tenant_id: str) -> str | None:
        row = self.get_row({"tenant_id": tenant_id, "model_id": self.LIVE})
        return row["live_model_id"] if row else None

    def versions(self, tenant_id: str) -> list[dict]:
        """The tenant's model versions (not the LIVE pointer nor job rows), oldest first."""
        rows = self.query_rows(KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :m)",
                               ExpressionAttributeValues=serialize({":t": tenant_id, ":m": self.VERSION_PREFIX}))
        return sorted(rows, key=lambda r: (r.get("version", 0), r.get("created_at", 0)))

    def update_version(self, tenant_id: str, model_id: str, fields: dict) -> None:
        """Sets fields on an existing version row (a None value removes the field); NotFoundError if none."""
        if not self.update_fields({"tenant_id": tenant_id, "model_id": model_id}, fields, exists="model_id"):
            raise NotFoundError(f"{model_id!r} not found")
