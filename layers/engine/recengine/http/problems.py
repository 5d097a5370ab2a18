"""RFC 9457 problem details. `type` is a stable relative URI: /problems/<slug>."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

PROBLEM_JSON = "application/problem+json"

TITLES = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 408: "Request Timeout", 413: "Content Too Large", 415: "Unsupported Media Type",
          422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
          501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable"}


class Problem(Exception):
    """An error answered as problem+json; raise it (or a subclass) from the edge."""

    status = 500
    slug = "internal-error"

    def __init__(self, detail: str, *, errors: list[dict] | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra  # extension members (e.g. a batch's `rejected` and `not_stored` entries)


class MalformedJson(Problem):
    status, slug = 400, "malformed-json"


class BadRequest(Problem):
    status, slug = 400, "bad-request"


class Unauthorized(Problem):
    status, slug = 401, "unauthorized"


class NotFound(Problem):
    status, slug = 404, "not-found"


class UnsupportedMediaType(Problem):
    status, slug = 415, "unsupported-media-type"


class ValidationFailed(Problem):
    status, slug = 422, "validation-error"


class RateLimited(Problem):
    status, slug = 429, "rate-limited"


class ServiceUnavailable(Problem):
    status, slug = 503, "service-unavailable"


def trace_id() -> str | None:
    """The X-Ray trace id Lambda hands the invocation (its `Root`), if tracing is on: read by
    Powertools, as its Logger does for `xray_trace_id`."""
    from aws_lambda_powertools.shared.functions import get_tracer_id

    return get_tracer_id()


def problem_body(status: int, slug: str, detail: str, *, instance: str | None = None,
                 request_id: str | None = None, errors: list[dict] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {**(extra or {}), "type": f"/problems/{slug}", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    trace = trace_id() or request_id
    if trace:
        body["traceId"] = trace
    if errors:
        body["errors"] = errors
    return body


def problem_response(status: int, slug: str, detail: str, *, instance: str | None = None,
                     request_id: str | None = None, errors: list[dict] | None = None,
                     headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Response:
    body = problem_body(status, slug, detail, instance=instance, request_id=request_id, errors=errors, extra=extra)
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=headers)
