"""API Gateway REQUEST authorizer for both credentials the API takes.

An API key (`x-api-key`, or `Authorization: Bearer <key>`) is handed to API Gateway, which checks it
against the usage plans (unknown or disabled key: 401; over quota or rate: 429); its role is read
from its prefix (`rk_read_...`; a key without one is an older, admin key) with no I/O, and a forged
prefix gains nothing, since API Gateway then validates the whole value.

A portal token (`Authorization: Bearer <jwt>`, a Cognito ID token) is verified here, as API
Gateway's Cognito authorizer would (RS256 signature against the pool's JWKS, expiry, `token_use`,
audience, issuer: recengine.portal.tokens); its tenant and role (admin group: admin, user group:
read) go on in the context. It carries no usage key, so only the routes that do not require an API
key (the portal's) accept it (docs/adr/0005-portal-tokens.md). Every function's resolver then
checks the role against the route (recengine.tenancy.roles)."""

from __future__ import annotations

import threading
from typing import Any

from recengine.tenancy.roles import role_of_key

_verifier = None
_lock = threading.Lock()


class Unauthorized(Exception):
    """Raised with the exact message "Unauthorized": API Gateway then answers 401."""


def extract_key(headers: dict[str, str] | None) -> str | None:
    lower = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    key = (lower.get("x-api-key") or "").strip()
    if key:
        return key
    scheme, _, token = (lower.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _resource(method_arn: str) -> str:
    """Every method of this API stage: arn:...:api-id/stage/*/* (the answer is not cached anyway)."""
    arn, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0] if path else "*"
    return f"{arn}/{stage}/*/*"


def verifier():
    """The pool's token verifier, built on the first token (its JWKS cached while the container lives)."""
    global _verifier
    with _lock:
        if _verifier is None:
            from recengine.portal.tokens import verifier_from_settings
            from recengine.settings import settings

            _verifier = verifier_from_settings(settings())
        return _verifier


def _allow(event: dict, principal: str, context: dict, usage_key: str | None = None) -> dict:
    answer = {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _resource(event.get("methodArn", "*"))}]},
        "context": context,
    }
    if usage_key is not None:
        answer["usageIdentifierKey"] = usage_key
    return answer


def lambda_handler(event: dict, context: Any) -> dict:
    key = extract_key(event.get("headers"))
    if not key:
        raise Unauthorized("Unauthorized")
    from recengine.portal.tokens import InvalidTokenError, looks_like_jwt

    if looks_like_jwt(key):
        try:
            claims = verifier().verify(key)
        except InvalidTokenError:
            raise Unauthorized("Unauthorized") from None
        return _allow(event, claims.sub, claims.context())
    role = role_of_key(key)
    # An unknown `rk_` role travels as no role at all: the functions refuse it (fail closed).
    return _allow(event, "api-key", {"role": role.value} if role else {}, key)


def reset_verifier() -> None:
    """Forgets the cached verifier (tests point it at a new pool)."""
    global _verifier
    with _lock:
        _verifier = None
