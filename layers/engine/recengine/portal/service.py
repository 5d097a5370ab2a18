"""Portal accounts: who joins which tenant. A register without credentials is a sign-up: a new
tenant on the starter plan whose first account is its admin. A register by a tenant's admin (its
token or an admin API key) adds an account to that tenant. Login and the GoTrue grants hand out
Cognito's tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import ConflictError, ForbiddenError, UnauthorizedError
from ..tenancy.model import Tenant, tenant_id_from_name
from ..tenancy.roles import Role, role_of_key
from ..tenancy.store import TenantStore
from .accounts import Account, CognitoAccounts, Tokens
from .tokens import ADMIN_GROUP, USER_GROUP, InvalidTokenError, PortalClaims, TokenVerifier, looks_like_jwt

SIGN_UP_PLAN = "starter"


@dataclass(frozen=True)
class NewAccount:
    email: str
    name: str
    password: str
    role: str = USER_GROUP  # the group an admin asks for; a sign-up is always its tenant's admin


def _email_taken(accounts: CognitoAccounts, email: str) -> bool:
    try:
        accounts.get_account(email)
    except UnauthorizedError:
        return False
    return True


def sign_up(accounts: CognitoAccounts, tenants: TenantStore, new: NewAccount, now: float | None = None) -> Account:
    """A new tenant on the starter plan and its first account, an admin. The e-mail is checked
    first so that a taken one creates no tenant; the tenant gets API keys from the admin CLI."""
    if _email_taken(accounts, new.email):
        raise ConflictError("an account with this e-mail already exists")
    tenant = Tenant(tenant_id_from_name(new.name), new.name, SIGN_UP_PLAN, time.time() if now is None else now)
    tenants.insert_tenant(tenant)
    return accounts.create_account(new.email, new.name, new.password, tenant.tenant_id, ADMIN_GROUP)


def add_account(accounts: CognitoAccounts, tenants: TenantStore, tenant_id: str, role: Role | None,
                new: NewAccount) -> Account:
    """An account in the caller's tenant; only an admin (token or API key) may add one."""
    if role is None or not role.allows(Role.ADMIN):
        raise ForbiddenError("only a tenant admin may add accounts to the tenant")
    if tenants.get_tenant(tenant_id) is None:
        raise UnauthorizedError("the caller's tenant does not exist")
    return accounts.create_account(new.email, new.name, new.password, tenant_id, new.role)


def verified_claims(verifier: TokenVerifier, token: str) -> PortalClaims:
    """The claims of a bearer token a public route was sent (register): 401 if not valid."""
    try:
        return verifier.verify(token)
    except InvalidTokenError as exc:
        raise UnauthorizedError(f"the bearer token is not valid: {exc}") from None


def register(accounts: CognitoAccounts, tenants: TenantStore, verifier: TokenVerifier, new: NewAccount,
             credential: str | None, key_tenant: Callable[[str], Tenant]) -> Account:
    """POST /api/auth/register: a sign-up without a credential; with an admin's token or API key, an
    account in that tenant. API Gateway checks no key on this public route, so a key value is
    validated here by `key_tenant` (tenancy's resolver: unknown or revoked, 401) and its role read
    from the value as the authorizer reads it (read or write: 403). A credential is never ignored."""
    if credential is None:
        return sign_up(accounts, tenants, new)
    if not looks_like_jwt(credential):
        tenant = key_tenant(credential)
        return add_account(accounts, tenants, tenant.tenant_id, role_of_key(credential), new)
    claims = verified_claims(verifier, credential)
    return add_account(accounts, tenants, claims.tenant_id, claims.role, new)


def login(accounts: CognitoAccounts, email: str, password: str) -> tuple[Tokens, Account]:
    tokens = accounts.sign_in(email, password)
    return tokens, _enabled(accounts.get_account(email))


def refresh(accounts: CognitoAccounts, verifier: TokenVerifier, refresh_token: str) -> tuple[Tokens, Account]:
    """New tokens from a refresh token; the account is the one the new ID token names."""
    tokens = accounts.refresh(refresh_token)
    claims = verified_claims(verifier, tokens.id_token)
    return tokens, _enabled(accounts.get_account(claims.email))


def grant(accounts: CognitoAccounts, verifier: TokenVerifier, grant_type: str, email: str | None,
          password: str | None, refresh_token: str | None) -> tuple[Tokens, Account]:
    """GoTrue's two grants; a grant without its credentials is refused as wrong ones are (401)."""
    if grant_type == "password" and email and password:
        return login(accounts, email, password)
    if grant_type == "refresh_token" and refresh_token:
        return refresh(accounts, verifier, refresh_token)
    raise UnauthorizedError(f"the {grant_type} grant needs its credentials")


def _enabled(account: Account) -> Account:
    if not account.enabled:
        raise UnauthorizedError("the account is disabled")
    return account
