"""Domain errors raised by services and stores. Each has a stable `code`, which the HTTP edge
(recengine.http.app) maps to a status and uses as the problem `type` slug: one table, one place."""


class DomainError(Exception):
    """Base class; `code` is stable and becomes the problem `type` slug. `details` are extension
    members of the problem (e.g. the running job a 409 refers to); `retry_after_s` becomes the
    Retry-After header."""

    code = "domain-error"

    def __init__(self, message: str = "", *, details: dict | None = None, retry_after_s: int | None = None):
        super().__init__(message)
        self.details = details or {}
        self.retry_after_s = retry_after_s


class NotFoundError(DomainError):
    code = "not-found"


class UnauthorizedError(DomainError):
    code = "unauthorized"


class ForbiddenError(DomainError):
    """The caller's key is valid but may not act on what the request names (403)."""

    code = "forbidden"


class InsufficientScopeError(ForbiddenError):
    """The caller's key is valid, but its role is below the one the route needs (403)."""

    code = "insufficient-scope"


class ConflictError(DomainError):
    code = "conflict"


class StoreError(DomainError):
    """An AWS call failed after the SDK's own retries."""

    code = "store-unavailable"


class PaymentRequiredError(DomainError):
    """The call needs more than the tenant's plan or overage budget allows (402)."""

    code = "payment-required"


class PaymentProviderUnavailableError(DomainError):
    """No payment provider is configured for this deployment (checkout cannot be offered)."""

    code = "payment-provider-not-configured"


class PaymentProviderError(DomainError):
    """The payment provider refused or failed a call (502). The message is written by the provider
    adapter from the error's class, status and code only: never the provider's own text or a key."""

    code = "payment-provider-error"


class NoPaymentCustomerError(ConflictError):
    """The tenant has no customer at the payment provider yet (409): a checkout creates one."""

    code = "no-payment-customer"


class DeadlineExceededError(DomainError):
    """The request ran past its time budget (408): nothing was served or billed."""

    code = "request-timeout"


class InvalidArgumentError(DomainError):
    """A value the schema allows but the service cannot use (e.g. a cursor that is not the caller's)."""

    code = "bad-request"
