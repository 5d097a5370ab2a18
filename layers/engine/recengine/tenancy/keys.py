"""API key bindings in the tenants table (`pk = key#<api key id>`): which tenant a key acts for, and
with which role (recorded for listing and audit; requests take the role from the key's value)."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import NotFoundError
from .roles import LEGACY_ROLE, Role


def key_key(api_key_id: str) -> dict:
    return {"pk": f"key#{api_key_id}"}


class ApiKeyStore(Table):
    def bind_key(self, api_key_id: str, tenant_id: str, role: Role) -> None:
        self.put_row({**key_key(api_key_id), "tenant_id": tenant_id, "role": role.value, "created_at": time.time()})

    def tenant_id_for_key(self, api_key_id: str) -> str | None:
        """The tenant a key acts for; None for an unknown or revoked key."""
        row = self.get_row(key_key(api_key_id))
        if not row or row.get("revoked"):
            return None
        return row["tenant_id"]

    def key_binding(self, api_key_id: str) -> dict | None:
        """The `key#<id>` row (tenant_id, role, created_at, revoked) or None."""
        return self.get_row(key_key(api_key_id), consistent=True)

    def revoke_key(self, api_key_id: str, now: float) -> None:
        """Marks the key revoked: tenant_id_for_key stops resolving it."""
        try:
            self.db.update_item(TableName=self.name, Key=serialize(key_key(api_key_id)),
                                UpdateExpression="SET revoked = :t, revoked_at = :n",
                                ConditionExpression="attribute_exists(pk)",
                                ExpressionAttributeValues=serialize({":t": True, ":n": now}))
        except ClientError as exc:
            if conditional_failure(exc):
                raise NotFoundError(f"API key {api_key_id!r} is not bound to a tenant") from exc
            raise store_error("update_item", exc) from exc

    def key_bindings(self) -> list[dict]:
        """Every `key#<id>` row, with `api_key_id` added and `role` filled in for rows bound before
        roles existed (their keys carry no prefix: LEGACY_ROLE); a scan of a small table, admin CLI only."""
        return [{**row, "api_key_id": row["pk"].removeprefix("key#"), "role": row.get("role") or LEGACY_ROLE.value}
                for row in self.scan_rows() if row["pk"].startswith("key#")]
