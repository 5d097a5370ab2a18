"""Resolver setup shared by every function: error mapping, body parsing, tenant from API key."""

from __future__ import annotations

import base64
import json
import re
from typing import TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as PowertoolsNotFound
from pydantic import BaseModel, ValidationError

from ..errors import (ConflictError, DeadlineExceededError, DomainError, ForbiddenError, NotFoundError, PaymentProviderUnavailableError, PaymentRequiredError, StoreError,
                      UnauthorizedError)
from ..services.container import container
from ..services.registry import ModelNotFoundError
from ..stores.dynamo import Tenant
from .problems import MalformedJson, Problem, UnsupportedMediaType, ValidationFailed, problem_response

M = TypeVar("M", bound=BaseModel)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Checked in order: subclasses before their bases.
_DOMAIN_STATUS = {ModelNotFoundError: (404, "model-not-found"), NotFoundError: (404, "not-found"),
                  ForbiddenError: (403, "forbidden"), DeadlineExceededError: (408, "request-timeout"),
                  ConflictError: (409, "conflict"), UnauthorizedError: (401, "unauthorized"),
                  PaymentRequiredError: (402, "payment-required"),
                  PaymentProviderUnavailableError: (501, "payment-provider-not-configured"),
                  StoreError: (503, "service-unavailable")}


def request_id(app: APIGatewayRestResolver) -> str:
    """The caller's X-Request-Id when well formed, else API Gateway's request id."""
    event = app.current_event
    supplied = event.get_header_value("x-request-id", case_sensitive=False)
    if supplied and _REQUEST_ID.match(supplied):
        return supplied
    return event.request_context.request_id or "unknown"


def create_app(logger: Logger) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    def respond(status: int, slug: str, detail: str, errors=None, headers=None) -> Response:
        response = problem_response(status, slug, detail, instance=app.current_event.path,
                                    request_id=request_id(app), errors=errors, headers=headers)
        response.headers["X-Request-Id"] = request_id(app)
        return response

    @app.exception_handler(Problem)
    def _problem(exc: Problem) -> Response:
        return respond(exc.status, exc.slug, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response:
        for cls, (status, slug) in _DOMAIN_STATUS.items():
            if isinstance(exc, cls):
                if status == 408:
                    return respond(status, slug, str(exc), headers={"Retry-After": "1"})
                if status >= 500:
                    logger.error("dependency failure", extra={"error": str(exc)})
                    return respond(status, slug, "a backing service is unavailable; retry with backoff",
                                   headers={"Retry-After": "1"})
                return respond(status, slug, str(exc))
        logger.exception("unmapped domain error")
        return respond(500, "internal-error", "the request could not be completed")

    @app.not_found
    def _not_found(exc: PowertoolsNotFound) -> Response:
        return respond(404, "not-found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return respond(500, "internal-error", "the request could not be completed")

    return app


def parse_body(app: APIGatewayRestResolver, model: type[M]) -> M:
    event = app.current_event
    content_type = (event.get_header_value("content-type", case_sensitive=False) or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not (content_type.startswith("application/") and content_type.endswith("+json")):
        raise UnsupportedMediaType("the request body must be application/json")
    raw = event.body or ""
    if event.is_base64_encoded:
        raw = base64.b64decode(raw).decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise MalformedJson(f"the request body is not valid JSON: {exc}") from None
    return validate(model, data)


def validate(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"], "code": e["type"]}
                  for e in exc.errors(include_url=False, include_input=False)]
        raise ValidationFailed("the request does not match the schema", errors=errors) from None


def parse_query(app: APIGatewayRestResolver, model: type[M]) -> M:
    params = {k: v for k, v in (app.current_event.query_string_parameters or {}).items()}
    return validate(model, params)


TENANT_HEADERS = ("x-org-id", "x-tenant-id")


def current_tenant(app: APIGatewayRestResolver) -> Tenant:
    """The caller's tenant, from the API key id API Gateway verified; never from the body. A tenant
    header (X-Org-Id / X-Tenant-Id), if sent, must name the same tenant: a mismatch is a 403."""
    event = app.current_event
    tenant = container().tenant_cache.resolve(event.request_context.identity.api_key_id)
    for header in TENANT_HEADERS:
        claimed = event.get_header_value(header, case_sensitive=False)
        if claimed is not None and claimed.strip() != tenant.tenant_id:
            raise ForbiddenError(f"the {header} header does not match the API key's tenant")
    return tenant


def json_response(app: APIGatewayRestResolver, status: int, body: dict) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body),
                    headers={"X-Request-Id": request_id(app)})


def accepted(app: APIGatewayRestResolver, body: dict, status_url: str) -> Response:
    """202 for work that runs on: the body names where to poll, and so does the Location header."""
    response = json_response(app, 202, {**body, "status_url": status_url})
    response.headers["Location"] = status_url
    return response
