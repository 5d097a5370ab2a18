"""Each domain error a resolver raises comes back in `errors[]` with the code that means what REST's
status for the same error means (one table: recengine.http.app's), never a code picked by message."""

from __future__ import annotations

import pytest
from graphql import located_error

from recengine.errors import (DeadlineExceededError, InsufficientScopeError, NotFoundError, PaymentRequiredError,
                              StoreError, UnauthorizedError)
from recengine.graphql.service import _error
from recengine.models.job_claims import JobQuotaExceededError


def formatted(original: Exception) -> dict:
    """As execution reports a resolver's exception: located at the field, the message its str()."""
    return _error(located_error(original, None, ["getRecommendations"]))


@pytest.mark.parametrize(("error", "code", "type_"), [
    (UnauthorizedError("no key"), "UNAUTHENTICATED", "/problems/unauthorized"),
    (InsufficientScopeError("needs write"), "FORBIDDEN", "/problems/insufficient-scope"),
    (NotFoundError("no such item"), "NOT_FOUND", "/problems/not-found"),
    (PaymentRequiredError("allowance spent"), "PAYMENT_REQUIRED", "/problems/payment-required"),
    (JobQuotaExceededError("daily jobs used", retry_after_s=60), "RATE_LIMITED", "/problems/job-quota-exceeded"),
    (DeadlineExceededError("late"), "SERVICE_UNAVAILABLE", "/problems/request-timeout"),
    (StoreError("dynamodb said no"), "SERVICE_UNAVAILABLE", "/problems/service-unavailable"),
])
def test_a_domain_error_gets_the_code_of_its_rest_status(error, code, type_):
    body = formatted(error)
    assert body["extensions"]["code"] == code and body["extensions"]["type"] == type_
    assert body["path"] == ["getRecommendations"]


def test_a_4xx_keeps_the_services_message_and_a_retry_after():
    body = formatted(JobQuotaExceededError("daily jobs used", retry_after_s=60))
    assert body["message"] == "daily jobs used" and body["extensions"]["retryAfter"] == 60


def test_a_store_failure_or_an_unexpected_error_says_nothing_internal():
    assert "dynamodb" not in formatted(StoreError("dynamodb said no"))["message"]
    body = formatted(KeyError("secret internals"))
    assert body["extensions"] == {"code": "INTERNAL"} and "secret" not in body["message"]
