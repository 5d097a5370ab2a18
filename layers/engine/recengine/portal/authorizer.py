"""The REQUEST authorizer's decision, for both credentials the API takes (functions/authorizer).

An API key (`x-api-key`, or `Authorization: Bearer <key>`) is handed to API Gateway as the usage
key, which it checks against the usage plans (unknown or disabled key: 401; over quota or rate: 429);
its role is read from its prefix (`rk_read_...`; a key without one is an older, admin key) with no
I/O, and a forged prefix gains nothing, since API Gateway then validates the whole value.

A portal token (`Authorization: Bearer <jwt>`, a Cognito ID token) is verified here as API Gateway's
Cognito authorizer would (tokens.TokenVerifier); its tenant and role go on in the context. It
carries no usage key, so only the routes that require no API key (the portal's) accept it
(docs/adr/0005-portal-tokens.md)."""

from __future__ import annotations

from typing import Callable

from ..tenancy.credentials import credential_from_headers
from ..tenancy.roles import role_of_key
from .tokens import InvalidTokenError, TokenVerifier, looks_like_jwt


class Unauthorized(Exception):
    """Raised with the exact message "Unauthorized": API Gateway then answers 401."""


def extract_key(headers: dict[str, str] | None) -> str | None:
    """The credential (API key or portal token) as every caller reads it (tenancy.credentials)."""
    return credential_from_headers(headers)


def _resource(method_arn: str) -> str:
    """Every method of this API stage: arn:...:api-id/stage/*/* (the answer is not cached anyway)."""
    arn, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0] if path else "*"
    return f"{arn}/{stage}/*/*"


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


def authorize(event: dict, verifier: Callable[[], TokenVerifier]) -> dict:
    """The authorizer's answer; Unauthorized (401) without a credential or with a token that does not
    verify. `verifier` is called only for a token: an API key call never builds or reads it."""
    key = extract_key(event.get("headers"))
    if not key:
        raise Unauthorized("Unauthorized")
    if looks_like_jwt(key):
        try:
            claims = verifier().verify(key)
        except InvalidTokenError:
            raise Unauthorized("Unauthorized") from None
        return _allow(event, claims.sub, claims.context())
    role = role_of_key(key)
    # An unknown `rk_` role travels as no role at all: the functions refuse it (fail closed).
    return _allow(event, "api-key", {"role": role.value} if role else {}, key)
