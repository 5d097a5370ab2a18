"""Portal token verification, as API Gateway's Cognito authorizer verifies ID tokens: the pool's
RS256 signature, expiry, `token_use`, audience (the app client) and issuer (the pool); then the
tenant and role the authorizer hands on. Keys are generated here; nothing reaches the network."""

from __future__ import annotations


import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from recengine.portal.authorizer import Unauthorized, authorize
from recengine.portal.tokens import InvalidTokenError, TokenVerifier, looks_like_jwt
from recengine.tenancy.roles import Role

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
CLIENT = "client-123"
NOW = 1_800_000_000
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/GET/api/users"


@pytest.fixture(scope="module")
def pool_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "pool-key"})


@pytest.fixture
def verifier(pool_key):
    jwks = KeySet([pool_key]).as_dict(private=False)
    return TokenVerifier(ISSUER, CLIENT, "https://keys.invalid/jwks.json", fetch=lambda url: jwks, clock=lambda: NOW)


def token(key: RSAKey, kid: str = "pool-key", **overrides) -> str:
    claims = {"iss": ISSUER, "aud": CLIENT, "token_use": "id", "sub": "sub-1", "email": "a@example.com",
              "exp": NOW + 3600, "iat": NOW - 10, "custom:tenant_id": "acme-1", "cognito:groups": ["admin"],
              **overrides}
    return jwt.encode({"alg": "RS256", "kid": kid}, {k: v for k, v in claims.items() if v is not None}, key)


def test_a_good_token_gives_its_tenant_and_role(verifier, pool_key):
    claims = verifier.verify(token(pool_key))
    assert (claims.tenant_id, claims.role, claims.sub, claims.email) == ("acme-1", Role.ADMIN, "sub-1", "a@example.com")


def test_a_user_group_token_reads_only(verifier, pool_key):
    assert verifier.verify(token(pool_key, **{"cognito:groups": ["user"]})).role is Role.READ


def test_an_expired_token_is_refused(verifier, pool_key):
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(pool_key, exp=NOW - 1))


def test_a_token_for_another_client_is_refused(verifier, pool_key):
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(pool_key, aud="another-client"))


def test_a_forged_signature_is_refused(verifier, pool_key):
    """Signed by another key under the pool key's id: the signature does not verify."""
    forger = RSAKey.generate_key(2048)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(forger, kid="pool-key"))


def test_a_tampered_payload_is_refused(verifier, pool_key):
    """Another tenant spliced into a genuine token's payload."""
    genuine = token(pool_key).split(".")
    other = token(pool_key, **{"custom:tenant_id": "victim-2"}).split(".")
    with pytest.raises(InvalidTokenError):
        verifier.verify(".".join([genuine[0], other[1], genuine[2]]))


def test_a_token_of_another_pool_is_refused(verifier, pool_key):
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(pool_key, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"))


def test_an_access_token_is_not_an_id_token(verifier, pool_key):
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(pool_key, token_use="access"))


@pytest.mark.parametrize("missing", ["custom:tenant_id", "cognito:groups", "exp", "aud"])
def test_a_token_missing_a_required_claim_is_refused(verifier, pool_key, missing):
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(pool_key, **{missing: None}))


def test_a_token_without_its_signature_is_refused(verifier, pool_key):
    header_payload = token(pool_key).rsplit(".", 1)[0]
    with pytest.raises(InvalidTokenError):
        verifier.verify(header_payload + ".")


def test_api_keys_do_not_look_like_tokens():
    assert not looks_like_jwt("rk_admin_abcdef") and not looks_like_jwt("k4nM3NXzq8Yw0aPl")


def test_the_authorizer_hands_on_the_tokens_tenant_and_role_without_a_usage_key(verifier, pool_key):
    answer = authorize({"methodArn": ARN, "headers": {"Authorization": f"Bearer {token(pool_key)}"}}, lambda: verifier)
    assert "usageIdentifierKey" not in answer
    assert answer["context"] == {"role": "admin", "tenant_id": "acme-1", "sub": "sub-1", "email": "a@example.com",
                                 "principal": "portal"}
    assert answer["principalId"] == "sub-1"


@pytest.mark.parametrize("bad", [{"exp": NOW - 1}, {"aud": "x"}, {"iss": "https://evil.example"}])
def test_the_authorizer_answers_401_to_an_invalid_token(verifier, pool_key, bad):
    with pytest.raises(Unauthorized, match="^Unauthorized$"):
        authorize({"methodArn": ARN, "headers": {"Authorization": f"Bearer {token(pool_key, **bad)}"}}, lambda: verifier)


def test_an_api_key_never_builds_the_verifier():
    def no_verifier():
        raise AssertionError("an API key call must not touch the token verifier")

    answer = authorize({"methodArn": ARN, "headers": {"x-api-key": "rk_read_abc"}}, no_verifier)
    assert answer["usageIdentifierKey"] == "rk_read_abc" and answer["context"] == {"role": "read"}
