"""Tenant administration: tenants with API keys on their plan's usage plan, each key with a role
(read, write, admin; recengine.tenancy.roles), key rotation and revocation, plan changes. API
Gateway holds the keys; the tenants table binds key ids to tenants and records their roles."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from typing import Callable

from recengine.batch.nightly import NightlyBatch
from recengine.batch.store import NightlySettingStore
from recengine.billing import service as billing
from recengine.billing.plans import PLANS
from recengine.billing.store import UsageStore
from recengine.errors import NotFoundError
from recengine.tenancy.keys import ApiKeyStore
from recengine.tenancy.model import Tenant, tenant_id_from_name
from recengine.tenancy.roles import Role, new_key_value
from recengine.tenancy.store import TenantStore

from .aws import ApiKeys


def slugify(name: str) -> str:
    """A tenant id from a display name (the portal's sign-up makes them the same way)."""
    return tenant_id_from_name(name)


@dataclass(frozen=True)
class IssuedKey:
    tenant: Tenant
    key_id: str
    value: str  # shown once; API Gateway keeps it, the tenants table never does
    role: Role
    replaces: str | None = None  # the key id it took over from (rotation)


class TenantAdmin:
    """`keys` are API Gateway's; tenant rows, key bindings and nightly settings share the tenants table."""

    def __init__(self, keys: ApiKeys, tenants_table: str, plan_ids: dict[str, str], usage: UsageStore | None = None,
                 on_keys_changed: Callable[[], None] = lambda: None, dynamodb=None):
        self.keys, self.plan_ids, self.usage = keys, plan_ids, usage
        self.tenants = TenantStore(tenants_table, dynamodb)
        self.bindings = ApiKeyStore(tenants_table, dynamodb)
        self.nightly = NightlySettingStore(tenants_table, dynamodb)
        self.on_keys_changed = on_keys_changed

    def _plan_id(self, plan: str) -> str:
        if plan not in PLANS or plan not in self.plan_ids:
            raise ValueError(f"unknown plan {plan!r}: one of {', '.join(PLANS)}")
        return self.plan_ids[plan]

    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self.tenants.get_tenant(tenant_id)
        if tenant is None:
            raise NotFoundError(f"tenant {tenant_id!r} not found")
        return tenant

    def _issue(self, tenant: Tenant, role: Role, replaces: str | None = None) -> IssuedKey:
        # The role is in the value (the authorizer reads it there) and on the binding (for listing).
        value = new_key_value(role)
        key_id = self.keys.create(f"{tenant.tenant_id}-{role.value}-{secrets.token_hex(3)}", value, tenant.tenant_id,
                                  role.value)
        self.keys.attach(key_id, self._plan_id(tenant.plan))
        self.bindings.bind_key(key_id, tenant.tenant_id, role, value)  # its digest too, never the value
        return IssuedKey(tenant, key_id, value, role, replaces)

    def create_tenant(self, name: str, plan: str, tenant_id: str | None = None) -> IssuedKey:
        """Records the tenant (ConflictError if the id is taken) and issues its first key, an admin key."""
        self._plan_id(plan)
        tenant = Tenant(tenant_id or slugify(name), name, plan, time.time())
        self.tenants.insert_tenant(tenant)
        issued = self._issue(tenant, Role.ADMIN)
        self.on_keys_changed()
        return issued

    def create_key(self, tenant_id: str, role: Role) -> IssuedKey:
        """One more key for the tenant, with the role; the tenant's other keys are untouched."""
        issued = self._issue(self._tenant(tenant_id), role)
        self.on_keys_changed()
        return issued

    def active_keys(self, tenant_id: str) -> list[dict]:
        return [k for k in self.bindings.key_bindings() if k["tenant_id"] == tenant_id and not k.get("revoked")]

    def record_key_digests(self, tenant_id: str | None = None) -> list[str]:
        """Writes the value digest of each active key (of the tenant, or of every tenant) from the value
        API Gateway keeps: keys issued before digests were recorded are then known by value to register
        and the routes that take a key or a portal token. Idempotent; returns the key ids."""
        keys = [k for k in self.bindings.key_bindings() if not k.get("revoked")
                and (tenant_id is None or k["tenant_id"] == tenant_id)]
        for key in keys:
            self.bindings.record_value(key["api_key_id"], self.keys.value(key["api_key_id"]))
        return [k["api_key_id"] for k in keys]

    def list_tenants(self) -> list[dict]:
        bindings = self.bindings.key_bindings()
        nightly = dict(self.nightly.all())
        out = []
        for tenant in sorted(self.tenants.list_tenants(), key=lambda t: t.tenant_id):
            keys = [{"key_id": k["api_key_id"], "role": k["role"], "created_at": k.get("created_at"),
                     "revoked": bool(k.get("revoked"))} for k in bindings if k["tenant_id"] == tenant.tenant_id]
            out.append({"tenant_id": tenant.tenant_id, "name": tenant.name, "plan": tenant.plan,
                        "created_at": tenant.created_at, "keys": sorted(keys, key=lambda k: k["created_at"] or 0),
                        "nightly_batch": nightly.get(tenant.tenant_id),
                        "interaction_ttl_days": tenant.interaction_ttl_days})
        return out

    def enable_nightly_batch(self, tenant_id: str, algorithm: str = "hybrid", count: int = 10) -> dict:
        """Turns on (or changes) the tenant's nightly batch generation; returns the stored setting.
        Validated here, at the CLI's edge, with the model the schedule reads it back with."""
        self._tenant(tenant_id)
        setting = NightlyBatch(algorithm=algorithm, count=count)
        stored = {**setting.model_dump(), "updated_at": time.time()}
        self.nightly.set(tenant_id, stored)
        return stored

    def disable_nightly_batch(self, tenant_id: str) -> None:
        self._tenant(tenant_id)
        self.nightly.set(tenant_id, None)

    def set_interaction_ttl(self, tenant_id: str, days: int | None) -> Tenant:
        """Keeps the tenant's interactions `days` days from their timestamp (DynamoDB TTL; None: kept,
        the default). Applies to rows written from then on (within the functions' 60 s tenant cache)."""
        tenant = replace(self._tenant(tenant_id), interaction_ttl_days=days)  # validates the number of days
        self.tenants.set_interaction_ttl(tenant_id, days)
        return tenant

    def rotate_keys(self, tenant_id: str, role: Role | None = None) -> tuple[list[IssuedKey], list[str]]:
        """Replaces each active key of the tenant (only those of `role`, if given) by a new key with
        the same role on the tenant's plan, then revokes (disables) the old ones. A key bound before
        roles existed is replaced by an admin key. With no key to replace, issues one (`role`, else admin)."""
        tenant = self._tenant(tenant_id)
        old = [k for k in self.active_keys(tenant_id) if role is None or k["role"] == role.value]
        issued = [self._issue(tenant, Role(k["role"]), k["api_key_id"]) for k in old] or [
            self._issue(tenant, role or Role.ADMIN)]
        for key in old:
            self._revoke(key["api_key_id"])
        self.on_keys_changed()
        return issued, [k["api_key_id"] for k in old]

    def _revoke(self, key_id: str) -> None:
        # The binding first: from then on no function resolves the key, whatever API Gateway does.
        self.bindings.revoke_key(key_id, time.time())
        self.keys.disable(key_id)

    def revoke_key(self, key_id: str) -> str:
        """Revokes one key; returns its tenant id. The key is disabled in API Gateway, not deleted."""
        binding = self.bindings.key_binding(key_id)
        if binding is None:
            raise NotFoundError(f"API key {key_id!r} is not bound to a tenant")
        self._revoke(key_id)
        self.on_keys_changed()
        return binding["tenant_id"]

    def change_plan(self, tenant_id: str, plan: str) -> Tenant:
        """Moves every active key of the tenant to the plan's usage plan and records the new plan."""
        tenant = self._tenant(tenant_id)
        new_plan_id = self._plan_id(plan)
        for key in self.active_keys(tenant_id):
            # API Gateway allows a key on one usage plan per stage: off every other plan, then on the new one.
            for other in set(self.plan_ids.values()) - {new_plan_id}:
                if self.keys.is_on_plan(key["api_key_id"], other):
                    self.keys.detach(key["api_key_id"], other)
            if not self.keys.is_on_plan(key["api_key_id"], new_plan_id):
                self.keys.attach(key["api_key_id"], new_plan_id)
        self.tenants.set_plan(tenant_id, plan)
        changed = replace(tenant, plan=plan)
        if self.usage is not None:
            billing.reapply_overage_cap(self.usage, changed)
        self.on_keys_changed()
        return changed
