"""The tenant's end users as the portal manages them: list (page, search), get (with the last
activity read from their history), create, replace, toggle `isActive`, and delete through the user
erasure (every interaction, session, exposure and stored list of the user). Also the one hook the
serving and training paths call: whether a user may be personalised."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Callable

from ..errors import InvalidArgumentError, NotFoundError
from ..events.store import InteractionStore
from .end_users import EndUser, EndUserStore

# What a user who is not active gets from recommend: the non-personalised list, with this warning.
INACTIVE_USER_WARNING = "user-inactive"


@dataclass(frozen=True)
class EndUserDraft:
    email: str
    name: str
    role: str
    is_active: bool
    user_id: str | None = None
    segments: tuple[str, ...] = ()


def list_users(store: EndUserStore, tenant_id: str, page: int, page_size: int,
               search: str | None = None) -> tuple[list[EndUser], int]:
    """One page of the tenant's users (id order) and how many match; `search` matches id, e-mail or name."""
    users = store.all(tenant_id)
    if search:
        needle = search.strip().lower()
        users = [u for u in users if needle in u.user_id.lower() or needle in u.email.lower()
                 or needle in u.name.lower()]
    start = (page - 1) * page_size
    return users[start:start + page_size], len(users)


def get_user(store: EndUserStore, interactions: InteractionStore, tenant_id: str,
             user_id: str) -> tuple[EndUser, float | None]:
    """The user and when their latest event happened (None without one)."""
    user = _existing(store, tenant_id, user_id)
    latest = interactions.recent_for_user(tenant_id, user_id, 1)
    return user, (float(latest[0]["ts"]) if latest and "ts" in latest[0] else None)


def create_user(store: EndUserStore, tenant_id: str, draft: EndUserDraft, now: float | None = None) -> EndUser:
    now = time.time() if now is None else now
    user = EndUser(draft.user_id or f"user-{uuid.uuid4()}", draft.email, draft.name, draft.role, draft.is_active,
                   now, now, draft.segments)
    store.insert(tenant_id, user)
    return user


def update_user(store: EndUserStore, tenant_id: str, user_id: str, draft: EndUserDraft,
                now: float | None = None) -> EndUser:
    """Replaces every field but the id (a body naming another id is refused: users are never renamed)."""
    if draft.user_id is not None and draft.user_id != user_id:
        raise InvalidArgumentError("the body's id is not the path's: a user cannot be renamed")
    current = _existing(store, tenant_id, user_id)
    user = replace(current, email=draft.email, name=draft.name, role=draft.role, is_active=draft.is_active,
                   segments=draft.segments, updated_at=time.time() if now is None else now)
    store.replace(tenant_id, user)
    return user


def toggle_status(store: EndUserStore, tenant_id: str, user_id: str, now: float | None = None) -> EndUser:
    current = _existing(store, tenant_id, user_id)
    user = replace(current, is_active=not current.is_active, updated_at=time.time() if now is None else now)
    store.replace(tenant_id, user)
    return user


def delete_user(store: EndUserStore, tenant_id: str, user_id: str, start_erasure: Callable[[str, str], dict]) -> dict:
    """Starts the user's erasure, then deletes the record; returns the erasure job. NotFoundError for
    an id without a record (DELETE /v1/users/{user_id} erases users known only from their events).
    A launch that fails leaves the record, so the DELETE can be retried."""
    _existing(store, tenant_id, user_id)
    job = start_erasure(tenant_id, user_id)
    store.delete(tenant_id, user_id)
    return job


def may_personalise(store: EndUserStore, tenant_id: str, user_id: str) -> bool:
    """The serving and training hook: False only for a user the portal has marked inactive (a user
    without a record, as most event-only users are, is personalised as before)."""
    user = store.get(tenant_id, user_id, consistent=False)
    return user is None or user.is_active


def inactive_user_ids(store: EndUserStore, tenant_id: str) -> frozenset[str]:
    """The users whose events a training must leave out (one query of the tenant's profile partition)."""
    return frozenset(u.user_id for u in store.all(tenant_id) if not u.is_active)


def _existing(store: EndUserStore, tenant_id: str, user_id: str) -> EndUser:
    user = store.get(tenant_id, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id!r} not found")
    return user
