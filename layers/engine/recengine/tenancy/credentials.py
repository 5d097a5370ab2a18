"""The credential a request carries, read the one way every caller reads it: `x-api-key`, else
`Authorization: Bearer <value>` (an API key or a portal token), and the digest under which an API key
value is bound to its key id (the tenants table never holds a key's value)."""

from __future__ import annotations

import hashlib
from typing import Mapping


def credential_from_headers(headers: Mapping[str, object] | None) -> str | None:
    """The API key (`x-api-key`) or bearer value (`Authorization: Bearer ...`); None without one."""
    lower = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    key = (lower.get("x-api-key") or "").strip()
    if key:
        return key
    scheme, _, token = (lower.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def key_digest(value: str) -> str:
    """SHA-256 of a key value: keys carry 240 random bits, so the digest is a safe lookup handle."""
    return hashlib.sha256(value.encode()).hexdigest()
