"""The tenant: whose data a request may touch, and on which plan."""

from __future__ import annotations

import re
from dataclasses import dataclass

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    plan: str
    created_at: float

    def __post_init__(self) -> None:
        # Tenant ids open every key ("<tenant>#user#..."): no '#' or other separators allowed.
        if not TENANT_ID.match(self.tenant_id):
            raise ValueError(f"invalid tenant id {self.tenant_id!r}")
