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
