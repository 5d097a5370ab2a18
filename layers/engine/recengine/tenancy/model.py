"""The tenant: whose data a request may touch, and on which plan."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_INTERACTION_TTL_DAYS = 3650


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    plan: str
    created_at: float
    # Days a user's interaction rows are kept (DynamoDB TTL on `expires_at`); None keeps them (the default).
    interaction_ttl_days: int | None = None

    def __post_init__(self) -> None:
        # Tenant ids open every key ("<tenant>#user#..."): no '#' or other separators allowed.
        if not TENANT_ID.match(self.tenant_id):
            raise ValueError(f"invalid tenant id {self.tenant_id!r}")
        ttl = self.interaction_ttl_days
        if ttl is not None and not (isinstance(ttl, int) and 1 <= ttl <= MAX_INTERACTION_TTL_DAYS):
            raise ValueError(f"interaction_ttl_days must be 1-{MAX_INTERACTION_TTL_DAYS} days, or None")

    @property
    def interaction_ttl_s(self) -> int | None:
        return self.interaction_ttl_days * 86400 if self.interaction_ttl_days else None


def tenant_id_from_name(name: str) -> str:
    """A tenant id from a display name: lowercase letters, digits and dashes, plus a random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "tenant"
    return f"{slug}-{uuid.uuid4().hex[:8]}"
