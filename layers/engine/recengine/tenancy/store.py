"""Tenant records in the tenants table (`pk = tenant#<id>`)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import ConflictError, NotFoundError
from .model import Tenant


def tenant_key(tenant_id: str) -> dict:
    return {"pk": f"tenant#{tenant_id}"}


def _tenant(row: dict) -> Tenant:
    ttl = row.get("interaction_ttl_days")
    return Tenant(row["tenant_id"], row["name"], row["plan"], row["created_at"], int(ttl) if ttl else None)


class TenantStore(Table):
    def _row(self, tenant: Tenant) -> dict:
        row = {**tenant_key(tenant.tenant_id), "tenant_id": tenant.tenant_id, "name": tenant.name,
               "plan": tenant.plan, "created_at": tenant.created_at}
        if tenant.interaction_ttl_days:
            row["interaction_ttl_days"] = tenant.interaction_ttl_days
        return row

    def put_tenant(self, tenant: Tenant) -> None:
        self.put_row(self._row(tenant))

    def insert_tenant(self, tenant: Tenant) -> None:
        """Records a new tenant; ConflictError if the id is taken."""
        try:
            self.db.put_item(TableName=self.name, Item=serialize(self._row(tenant)),
                             ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if conditional_failure(exc):
                raise ConflictError(f"tenant {tenant.tenant_id!r} already exists") from exc
            raise store_error("put_item", exc) from exc

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = self.get_row(tenant_key(tenant_id))
        return _tenant(row) if row else None

    def list_tenants(self) -> list[Tenant]:
        # A scan of a small table (one row per tenant and key); run by the scheduled trainer only.
        return [_tenant(row) for row in self.scan_rows() if row["pk"].startswith("tenant#")]

    def set_plan(self, tenant_id: str, plan: str) -> None:
        try:
            self.db.update_item(TableName=self.name, Key=serialize(tenant_key(tenant_id)),
                                UpdateExpression="SET #plan = :p", ConditionExpression="attribute_exists(pk)",
                                ExpressionAttributeNames={"#plan": "plan"},
                                ExpressionAttributeValues=serialize({":p": plan}))
        except ClientError as exc:
            if conditional_failure(exc):
                raise NotFoundError(f"tenant {tenant_id!r} not found") from exc
            raise store_error("update_item", exc) from exc

    def set_interaction_ttl(self, tenant_id: str, days: int | None) -> None:
        """Sets (or, with None, removes) how many days the tenant's new interaction rows are kept."""
        kwargs: dict = {"UpdateExpression": "REMOVE interaction_ttl_days"}
        if days is not None:
            kwargs = {"UpdateExpression": "SET interaction_ttl_days = :d",
                      "ExpressionAttributeValues": serialize({":d": days})}
        try:
            self.db.update_item(TableName=self.name, Key=serialize(tenant_key(tenant_id)),
                                ConditionExpression="attribute_exists(pk)", **kwargs)
        except ClientError as exc:
            if conditional_failure(exc):
                raise NotFoundError(f"tenant {tenant_id!r} not found") from exc
            raise store_error("update_item", exc) from exc
