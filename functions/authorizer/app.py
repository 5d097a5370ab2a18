"""API Gateway REQUEST authorizer: finds the caller's API key in `x-api-key` or in
`Authorization: Bearer <key>` and hands it to API Gateway, which checks it against the usage
plans (unknown or disabled key: 401; over quota or rate: 429). It also reads the key's role from
its prefix (`rk_read_...`; a key without one is an older, admin key) and passes it on in the
context, where every function's resolver checks it against the route (recengine.tenancy.roles).
It keeps no state and makes no calls, so it adds no dependency to the request path; a forged
prefix gains nothing, since API Gateway then validates the whole value."""

from __future__ import annotations

from typing import Any

from recengine.tenancy.roles import role_of_key


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


def lambda_handler(event: dict, context: Any) -> dict:
    key = extract_key(event.get("headers"))
    if not key:
        raise Unauthorized("Unauthorized")
    role = role_of_key(key)
    return {
        "principalId": "api-key",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _resource(event.get("methodArn", "*"))}]},
        "usageIdentifierKey": key,
        # An unknown `rk_` role travels as no role at all: the functions refuse it (fail closed).
        "context": {"role": role.value} if role else {},
    }
