"""How far each tenant's training has read: a `TRAINED` row per tenant in the models table with
`trained_through` (the sort key of the newest event trained on) and `trained_at`. The scheduled
dispatcher skips tenants with nothing newer and serves the stalest first. (It lives beside the
versions, not on the tenant record, so that training needs no write access to the tenants table.)"""

from __future__ import annotations

from ..aws.dynamo import Table


class TrainedMarkerStore(Table):
    ROW = "TRAINED"

    def _key(self, tenant_id: str) -> dict:
        return {"tenant_id": tenant_id, "model_id": self.ROW}

    def trained_marker(self, tenant_id: str) -> str:
        return (self.get_row(self._key(tenant_id), consistent=True) or {}).get("trained_through", "")

    def marker(self, tenant_id: str) -> dict:
        """{trained_through, trained_at} of the tenant's last training ({} before the first)."""
        return self.get_row(self._key(tenant_id), consistent=True) or {}

    def set_trained_marker(self, tenant_id: str, marker: str, now: float | None = None) -> None:
        self.put_row({**self._key(tenant_id), "trained_through": marker, **({"trained_at": now} if now else {})})

    def mark_stale(self, tenant_id: str) -> bool:
        """Forgets how far the tenant's training read (`trained_at` is kept, so it is not jumped to
        the front of the schedule): the next scheduled training runs even with no newer event, as
        after a user's erasure. False when the tenant was never trained."""
        return self.update_fields(self._key(tenant_id), {"trained_through": ""}, exists="model_id")
