"""Portal tokens: Cognito ID tokens verified as API Gateway's Cognito authorizer verifies them (RS256
signature against the user pool's JWKS, expiry, `token_use`, audience = the app client, issuer =
the pool) and read into the caller's tenant and role. Shared by the REQUEST authorizer and by the
register route, which is public and checks an optional admin token itself."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..settings import Settings
from ..tenancy.roles import PORTAL_PRINCIPAL, Role

TENANT_CLAIM = "custom:tenant_id"
GROUPS_CLAIM = "cognito:groups"
ADMIN_GROUP, USER_GROUP = "admin", "user"
# A portal group -> the API role its members act with (tenancy.roles): admins administer, users read.
ROLE_OF_GROUP = {ADMIN_GROUP: Role.ADMIN, USER_GROUP: Role.READ}
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
JWKS_REFRESH_S = 3600.0


class InvalidTokenError(Exception):
    """The token is not one the user pool issued for this client, or no longer valid: a 401."""


@dataclass(frozen=True)
class PortalClaims:
    sub: str
    email: str
    tenant_id: str
    role: Role
    group: str

    def context(self) -> dict[str, str]:
        """The authorizer context API Gateway hands to the function (strings only)."""
        return {"role": self.role.value, "tenant_id": self.tenant_id, "sub": self.sub, "email": self.email,
                "principal": PORTAL_PRINCIPAL}


def looks_like_jwt(value: str) -> bool:
    """A compact JWS (three base64url parts, a JSON header): API keys never have this shape."""
    return bool(_JWT.match(value))


def fetch_jwks(url: str, timeout_s: float = 2.0) -> dict:
    """The pool's public keys (https in AWS, moto's endpoint locally, a file:// URL in tests)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - the URL is configuration
        return json.loads(answer.read())


class TokenVerifier:
    """Verifies ID tokens of one pool and client; the JWKS is read on first use, cached per execution
    environment and re-read at most once per `min_refetch_s` when a token names an unknown key id."""

    def __init__(self, issuer: str, client_id: str, jwks_url: str, fetch: Callable[[str], dict] = fetch_jwks,
                 clock: Callable[[], float] = time.time, min_refetch_s: float = 60.0):
        self.issuer, self.client_id, self.jwks_url = issuer.rstrip("/"), client_id, jwks_url
        self.fetch, self.clock, self.min_refetch_s = fetch, clock, min_refetch_s
        self._keys: KeySet | None = None
        self._fetched_at = -1e18
        self._lock = threading.Lock()

    def _key_set(self, kid: str | None) -> KeySet:
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > JWKS_REFRESH_S
            unknown = self._keys is not None and kid is not None and not any(
                k.kid == kid for k in self._keys.keys) and now - self._fetched_at > self.min_refetch_s
            if self._keys is None or stale or unknown:
                self._keys = KeySet.import_key_set(self.fetch(self.jwks_url))
                self._fetched_at = now
            return self._keys

    def verify(self, token: str) -> PortalClaims:
        if not looks_like_jwt(token):
            raise InvalidTokenError("not a JWT")
        try:
            header = json.loads(_b64(token.split(".", 1)[0]))
            decoded = jwt.decode(token, self._key_set(header.get("kid")), algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError(f"the token's signature does not verify ({type(exc).__name__})") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(now=int(self.clock()), leeway=0,
                                         iss={"essential": True, "value": self.issuer},
                                         aud={"essential": True, "value": self.client_id},
                                         token_use={"essential": True, "value": "id"},
                                         exp={"essential": True}, sub={"essential": True})
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidTokenError(f"the token is not valid here ({exc.error})") from None
        return _portal_claims(claims)


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _portal_claims(claims: dict) -> PortalClaims:
    tenant_id = claims.get(TENANT_CLAIM)
    if not isinstance(tenant_id, str) or not tenant_id:
        raise InvalidTokenError("the token names no tenant")
    groups = claims.get(GROUPS_CLAIM) or []
    group = ADMIN_GROUP if ADMIN_GROUP in groups else USER_GROUP if USER_GROUP in groups else None
    if group is None:
        raise InvalidTokenError("the token's account is in no portal group")
    return PortalClaims(str(claims["sub"]), str(claims.get("email") or ""), tenant_id, ROLE_OF_GROUP[group], group)


def verifier_from_settings(config: Settings) -> TokenVerifier:
    """The verifier of the configured pool and client (COGNITO_* variables; the JWKS URL defaults to
    the issuer's `/.well-known/jwks.json`, as Cognito serves it)."""
    issuer = config.require("cognito_issuer", "verifying portal tokens")
    return TokenVerifier(issuer, config.require("cognito_client_id", "verifying portal tokens"),
                         config.cognito_jwks_url or f"{issuer.rstrip('/')}/.well-known/jwks.json")
