"""Domain errors raised by services and stores; the API layer maps them to problem+json."""


class DomainError(Exception):
    """Base class; `code` is stable and becomes the problem `type` slug."""

    code = "domain-error"


class NotFoundError(DomainError):
    code = "not-found"


class UnauthorizedError(DomainError):
    code = "unauthorized"


class ConflictError(DomainError):
    code = "conflict"


class StoreError(DomainError):
    """An AWS call failed after the SDK's own retries."""

    code = "store-unavailable"
