"""RecommendAI's user shape `{id, email, name, role, isActive, createdAt[, lastActiveAt]}` for portal
accounts and end users, and the login / GoTrue token bodies."""

from __future__ import annotations

from datetime import datetime, timezone

from .accounts import Account, Tokens
from .end_users import EndUser


def iso(value: datetime | float | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def account_body(account: Account) -> dict:
    """A portal account, never its password or tokens; `role` is its portal group."""
    return {"id": account.id, "email": account.email, "name": account.name, "role": account.group,
            "isActive": account.enabled, "createdAt": iso(account.created_at), "tenantId": account.tenant_id}


def login_body(tokens: Tokens, account: Account) -> dict:
    return {"token": tokens.id_token, "user": account_body(account)}


def gotrue_body(tokens: Tokens, account: Account) -> dict:
    """GoTrue's `/token` answer; `access_token` is the ID token, the bearer every portal route takes."""
    return {"access_token": tokens.id_token, "token_type": "bearer", "expires_in": tokens.expires_in,
            "refresh_token": tokens.refresh_token, "user": account_body(account)}


def end_user_body(user: EndUser, last_active_at: float | None = None, with_activity: bool = False) -> dict:
    body = {"id": user.user_id, "email": user.email, "name": user.name, "role": user.role,
            "isActive": user.is_active, "createdAt": iso(user.created_at), "segments": list(user.segments)}
    if with_activity:
        body["lastActiveAt"] = iso(last_active_at)
    return body


def users_page(users: list[EndUser], total: int, page: int, page_size: int) -> dict:
    return {"data": [end_user_body(u) for u in users], "total": total, "page": page, "pageSize": page_size}
