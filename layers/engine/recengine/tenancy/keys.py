"""API key bindings in the tenants table (`pk = key#<api key id>`): which tenant a key acts for, and
with which role (recorded for listing and audit; requests take the role from the key's value). Beside
each binding, `pk = keyvalue#<sha256 of the value>` names the key id, so that a function serving a
route API Gateway checks no key on (register, routes that also take portal tokens) can validate a
key value itself."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import NotFoundError
from .credentials import key_digest
from .roles import LEGACY_ROLE, Role


def key_key(api_key_id: str) -> dict:
    return {"pk": f"key#{api_key_id}"}


def value_key(value: str) -> dict:
    return {"pk": f"keyvalue#{key_digest(value)}"}


class ApiKeyStore(Table):
    def bind_key(self, api_key_id: str, tenant_id: str, role: Role, value: str | None = None) -> None:
        """Binds the key id to the tenant; with the key's value, also its digest to the key id (the
        digest row first: a binding is never visible without its lookup by value)."""
        if value is not None:
            self.record_value(api_key_id, value)
        self.put_row({**key_key(api_key_id), "tenant_id": tenant_id, "role": role.value, "created_at": time.time()})

    def record_value(self, api_key_id: str, value: str) -> None:
        """Binds the digest of a key's value to its key id (for keys issued before digests were kept)."""
        self.put_row({**value_key(value), "api_key_id": api_key_id})

    def key_id_for_value(self, value: str) -> str | None:
        """The key id bound to this value's digest; None for a value never issued (or issued before
        digests were recorded). Whether the key is still valid is the binding's business."""
        row = self.get_row(value_key(value))
        return row["api_key_id"] if row else None

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
