"""The API key authorizer: the key from x-api-key or Authorization Bearer, handed to API Gateway."""

from __future__ import annotations

import pytest

from local.gateway import load_handler
from local.template import routes

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/POST/v1/recommend"


@pytest.fixture(scope="module")
def authorizer():
    return load_handler(next(r for r in routes() if r.authorizer is not None).authorizer)


@pytest.mark.parametrize("headers", [{"x-api-key": "k-1"}, {"X-API-Key": "k-1"}, {"Authorization": "Bearer k-1"},
                                     {"authorization": "bearer  k-1 "}, {"x-api-key": "k-1", "Authorization": "Bearer other"}])
def test_the_key_is_the_usage_identifier(authorizer, headers):
    answer = authorizer({"type": "REQUEST", "methodArn": ARN, "headers": headers}, None)
    assert answer["usageIdentifierKey"] == "k-1"
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abc123/api/*/*"


@pytest.mark.parametrize("headers", [{}, None, {"Authorization": "Basic k-1"}, {"Authorization": "Bearer"},
                                     {"x-api-key": "  "}])
def test_no_key_is_unauthorized(authorizer, headers):
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorizer({"type": "REQUEST", "methodArn": ARN, "headers": headers}, None)


@pytest.mark.parametrize("key,role", [("rk_read_abc123", "read"), ("rk_write_abc_123", "write"),
                                      ("rk_admin_abc-123", "admin"), ("k4nM3NXzq8Yw0aPl", "admin")])
@pytest.mark.parametrize("header", ["x-api-key", "Authorization"])
def test_the_role_comes_from_the_key_prefix_and_travels_in_the_context(authorizer, key, role, header):
    """A key without the rk_ prefix was issued before roles: it stays an admin key."""
    headers = {header: key if header == "x-api-key" else f"Bearer {key}"}
    answer = authorizer({"type": "REQUEST", "methodArn": ARN, "headers": headers}, None)
    assert answer["context"] == {"role": role} and answer["usageIdentifierKey"] == key


def test_a_prefixed_key_with_an_unknown_role_gets_no_role(authorizer):
    """API Gateway still checks the value; the functions refuse a key without a role (fail closed)."""
    answer = authorizer({"type": "REQUEST", "methodArn": ARN, "headers": {"x-api-key": "rk_root_abc"}}, None)
    assert answer["context"] == {} and answer["usageIdentifierKey"] == "rk_root_abc"
