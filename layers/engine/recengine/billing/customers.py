"""Each tenant's customer at the payment provider, one `billing#<tenant>` row in the tenants table.

A row of its own, not an attribute of the tenant row: whatever rewrites the tenant (PutItem) cannot
lose the customer, and the billing function's grant is limited to `billing#` rows (LeadingKeys)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import StoreError


def billing_key(tenant_id: str) -> dict:
    return {"pk": f"billing#{tenant_id}"}


class CustomerStore(Table):
    def customer_id(self, tenant_id: str) -> str | None:
        """The tenant's customer id at the provider, if a checkout has created one."""
        row = self.get_row(billing_key(tenant_id), consistent=True)
        return row.get("customer_id") if row else None

    def claim(self, tenant_id: str, customer_id: str, provider: str) -> str:
        """Records the tenant's customer unless one is recorded already; returns the recorded one, so
        that two concurrent first checkouts settle on one customer (the first written wins)."""
        row = {**billing_key(tenant_id), "tenant_id": tenant_id, "customer_id": customer_id, "provider": provider}
        try:
            self.db.put_item(TableName=self.name, Item=serialize(row),
                             ConditionExpression="attribute_not_exists(customer_id) OR customer_id = :c",
                             ExpressionAttributeValues=serialize({":c": customer_id}))
            return customer_id
        except ClientError as exc:
            if not conditional_failure(exc):
                raise store_error("put_item", exc) from exc
        recorded = self.customer_id(tenant_id)
        if recorded is None:  # the condition failed on a row that no longer holds a customer
            raise StoreError(f"the payment customer of tenant {tenant_id!r} could not be recorded")
        return recorded
