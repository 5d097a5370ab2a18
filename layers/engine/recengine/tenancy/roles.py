"""API key roles: what a key may call. The role is part of the key's value (`rk_<role>_<random>`), so
the authorizer reads it with no I/O and API Gateway, which checks the whole value against the usage
plans, makes it unforgeable; the one table below says which role each route needs."""

from __future__ import annotations

import secrets
from enum import Enum


class Role(str, Enum):
    """Ordered: each role may do everything the ones before it may."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {role: rank for rank, role in enumerate(Role)}
ROLES = tuple(role.value for role in Role)
# Every key issued before roles existed has no prefix: it keeps doing what it did, everything.
LEGACY_ROLE = Role.ADMIN
KEY_SCHEME = "rk_"
PUBLIC = None  # a route that needs no key, hence no role
# The authorizer's principalId for a portal (Cognito) token; API keys are "api-key". A request that
# carries it has no API key: its tenant is the token's (`requestContext.authorizer.tenant_id`).
PORTAL_PRINCIPAL = "portal"

# Route (method, resource path as template.yaml writes it) -> the least role that may call it.
# Fail closed: a route missing here is refused whatever the key (a test compares it with the template).
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/v1/billing/plans"): PUBLIC,
    ("GET", "/api/billing/plans"): PUBLIC,
    # read: serving and every GET; safe to ship in a storefront backend
    ("POST", "/v1/recommend"): Role.READ,
    ("GET", "/v1/recommend"): Role.READ,
    ("POST", "/api/v1/recommend"): Role.READ,
    ("GET", "/api/v1/recommend"): Role.READ,
    ("POST", "/v1/recommend/validate"): Role.READ,
    ("POST", "/v1/similar"): Role.READ,
    ("POST", "/api/v1/similar"): Role.READ,
    ("POST", "/graphql"): Role.READ,  # its recordInteraction mutation checks for write itself
    ("GET", "/v1/items"): Role.READ,
    ("GET", "/v1/items/{item_id}"): Role.READ,
    ("GET", "/api/items"): Role.READ,
    ("GET", "/api/items/{item_id}"): Role.READ,
    ("GET", "/v1/billing/current"): Role.READ,
    ("GET", "/v1/billing/usage"): Role.READ,
    ("GET", "/v1/billing/invoices"): Role.READ,
    ("GET", "/api/billing/current"): Role.READ,
    ("GET", "/api/billing/usage"): Role.READ,
    ("GET", "/api/billing/invoices"): Role.READ,
    ("GET", "/v1/models"): Role.READ,
    ("GET", "/v1/models/{model_id}"): Role.READ,
    ("GET", "/v1/models/jobs/{job_id}"): Role.READ,
    ("GET", "/v1/recommendations/jobs/{job_id}"): Role.READ,
    ("GET", "/v1/users/erasures/{job_id}"): Role.READ,  # a job's status; it never names the user
    # decisioning configuration: readable by any key (a storefront may show why), changed by admins
    ("GET", "/v1/decisioning/rules"): Role.READ,
    ("GET", "/v1/decisioning/rules/{rule_id}"): Role.READ,
    ("GET", "/v1/decisioning/policies"): Role.READ,
    ("GET", "/v1/decisioning/policies/{policy_id}"): Role.READ,
    ("GET", "/v1/decisioning/flows"): Role.READ,
    ("GET", "/v1/decisioning/flows/{flow_key}"): Role.READ,
    ("GET", "/v1/decisioning/routing"): Role.READ,
    ("GET", "/v1/experiments"): Role.READ,
    ("GET", "/v1/experiments/{experiment_id}"): Role.READ,
    # write: feeding data in
    ("POST", "/v1/interactions"): Role.WRITE,
    ("POST", "/api/v1/interactions"): Role.WRITE,
    ("POST", "/api/v1/respond"): Role.WRITE,  # an outcome of a decision, like an interaction
    ("POST", "/v1/items"): Role.WRITE,
    # admin: destructive, costly or billing changes
    ("DELETE", "/v1/items/{item_id}"): Role.ADMIN,
    ("POST", "/v1/models/{model_id}/promote"): Role.ADMIN,
    ("POST", "/v1/models/{model_id}/rollback"): Role.ADMIN,
    ("POST", "/v1/models/train"): Role.ADMIN,
    ("POST", "/v1/recommendations/generate"): Role.ADMIN,
    ("PUT", "/v1/billing/overage-cap"): Role.ADMIN,
    ("POST", "/v1/billing/checkout"): Role.ADMIN,
    ("POST", "/v1/billing/portal"): Role.ADMIN,
    ("PUT", "/api/billing/overage-cap"): Role.ADMIN,
    ("POST", "/api/billing/checkout"): Role.ADMIN,
    ("POST", "/api/billing/portal"): Role.ADMIN,
    ("DELETE", "/v1/users/{user_id}"): Role.ADMIN,  # erases the user's data (right to be forgotten)
    # portal (RecommendAI's /api/*): a token's group gives its role (admin -> admin, user -> read)
    ("POST", "/api/auth/register"): PUBLIC,  # a sign-up; with an admin's token, adds to that tenant
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/auth/v1/token"): PUBLIC,
    ("GET", "/api/users"): Role.ADMIN,
    ("POST", "/api/users"): Role.ADMIN,
    ("GET", "/api/users/{user_id}"): Role.READ,
    ("PUT", "/api/users/{user_id}"): Role.ADMIN,
    ("DELETE", "/api/users/{user_id}"): Role.ADMIN,
    ("PATCH", "/api/users/{user_id}/toggle-status"): Role.ADMIN,
    ("GET", "/api/recommendations"): Role.ADMIN,  # every end user's stored recommendations
    ("GET", "/api/recommendations/my"): Role.READ,  # the account's own (its e-mail's end user's)
    ("GET", "/api/recommendations/{rec_id}"): Role.READ,  # below admin: only the account's own
    ("DELETE", "/api/recommendations/{rec_id}"): Role.ADMIN,
    ("POST", "/api/recommendations/generate"): Role.ADMIN,  # a batch job: the plan's daily quota
    ("GET", "/api/analytics/stats"): Role.ADMIN,
    ("GET", "/api/analytics/data"): Role.ADMIN,
    # decisioning: rules, policies, flows, routing and experiments change what every customer is offered
    ("POST", "/v1/decisioning/rules"): Role.ADMIN,
    ("PUT", "/v1/decisioning/rules/{rule_id}"): Role.ADMIN,
    ("DELETE", "/v1/decisioning/rules/{rule_id}"): Role.ADMIN,
    ("POST", "/v1/decisioning/policies"): Role.ADMIN,
    ("PUT", "/v1/decisioning/policies/{policy_id}"): Role.ADMIN,
    ("DELETE", "/v1/decisioning/policies/{policy_id}"): Role.ADMIN,
    ("POST", "/v1/decisioning/flows"): Role.ADMIN,
    ("PUT", "/v1/decisioning/flows/{flow_key}"): Role.ADMIN,
    ("DELETE", "/v1/decisioning/flows/{flow_key}"): Role.ADMIN,
    ("PUT", "/v1/decisioning/routing"): Role.ADMIN,
    ("POST", "/v1/experiments"): Role.ADMIN,
    ("PUT", "/v1/experiments/{experiment_id}"): Role.ADMIN,
    ("DELETE", "/v1/experiments/{experiment_id}"): Role.ADMIN,
}


class UnlistedRouteError(LookupError):
    """The route is not in ROUTE_ROLES: nobody may call it until it is given a role."""


def required_role(method: str, path: str) -> Role | None:
    """The least role the route needs; None (PUBLIC) for a route without a key."""
    try:
        return ROUTE_ROLES[(method.upper(), path)]
    except KeyError:
        raise UnlistedRouteError(f"{method.upper()} {path} has no role in the route table") from None


def parse_role(value: object) -> Role | None:
    """A role claim (the authorizer's context) as a Role; None when absent or not a role."""
    try:
        return Role(value) if isinstance(value, str) else None
    except ValueError:
        return None


def role_of_key(key: str) -> Role | None:
    """The role a key value carries: `rk_<role>_...` that role, a value without the `rk_` scheme an
    older key (LEGACY_ROLE), and `rk_` with anything else None: refused everywhere (fail closed)."""
    if not key.startswith(KEY_SCHEME):
        return LEGACY_ROLE
    for role in Role:
        if key.startswith(f"{KEY_SCHEME}{role.value}_"):
            return role
    return None


def new_key_value(role: Role) -> str:
    """A fresh key value carrying its role; 240 random bits after the prefix."""
    return f"{KEY_SCHEME}{role.value}_{secrets.token_urlsafe(30)}"
