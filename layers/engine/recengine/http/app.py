"""The resolver every function uses: errors answered as problem+json from one table, bodies and
query strings parsed into pydantic models, the caller's tenant from its API key, the key's role
checked against the route's on every request, and the route's latency as a metric."""

from __future__ import annotations

import base64
import json
import math
import re
import time
from typing import Any, Callable, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as PowertoolsNotFound
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

from ..aws.clients import no_answer
from ..errors import DomainError, ForbiddenError, InsufficientScopeError, UnauthorizedError
from ..observability import count, logger
from ..tenancy.credentials import credential_from_headers
from ..tenancy.model import Tenant
from ..tenancy.roles import PORTAL_PRINCIPAL, PUBLIC, UnlistedRouteError, parse_role, required_role, role_of_key
from .problems import MalformedJson, Problem, UnsupportedMediaType, ValidationFailed, problem_response

M = TypeVar("M", bound=BaseModel)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
TENANT_HEADERS = ("x-org-id", "x-tenant-id")
# Domain error code -> HTTP status: the one place where errors meet statuses. A subclass without
# its own entry takes its nearest base's (walked along the class's MRO).
STATUS_OF_CODE = {"not-found": 404, "model-not-found": 404, "unauthorized": 401, "forbidden": 403,
                  "insufficient-scope": 403, "request-timeout": 408, "conflict": 409, "job-in-progress": 409,
                  "payment-required": 402, "bad-request": 400, "job-quota-exceeded": 429,
                  "payment-provider-not-configured": 501, "payment-provider-error": 502,
                  "no-payment-customer": 409, "store-unavailable": 503, "offer-not-in-decision": 422}
# The slug of a 503 is the one clients know (`service-unavailable`), not the internal code.
SLUG_OF_CODE = {"store-unavailable": "service-unavailable"}


def _status(exc: DomainError) -> tuple[int, str] | None:
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if code in STATUS_OF_CODE:
            return STATUS_OF_CODE[code], SLUG_OF_CODE.get(code, code)
    return None


class Api(APIGatewayRestResolver):
    """A REST resolver that knows the caller: `resolve_tenant(api_key_id)` is called lazily, so the
    function's stores are built on the first request that needs them, not at import."""

    def __init__(self, resolve_tenant: Callable[[str | None], Tenant] | None = None,
                 resolve_tenant_id: Callable[[str], Tenant] | None = None,
                 resolve_key_value: Callable[[str], Tenant] | None = None):
        super().__init__()
        self._resolve_tenant = resolve_tenant
        # A portal token's tenant (by id, from the authorizer's context): only the functions behind
        # portal routes are given one; the others answer 401 to a request without an API key.
        self._resolve_tenant_id = resolve_tenant_id
        # A key value's tenant, validated here: only the functions behind routes that take a portal
        # token or an API key (no key required at API Gateway, so it checks none) are given one.
        self._resolve_key_value = resolve_key_value
        self._install_error_handlers()
        self.use(middlewares=[_route_latency, _require_role])

    # ------------------------------------------------------------------ the request
    def header(self, name: str) -> str | None:
        """A request header, case-insensitively (as Powertools' deprecated `get_header_value`, which
        warns and rebuilds the headers on every call): the headers are folded once per request."""
        event = self.current_event
        folded = getattr(event, "_folded_headers", None)
        if folded is None:
            folded = event.headers  # a CaseInsensitiveDict built from the raw headers
            event._folded_headers = folded
        return folded.get(name)

    def request_id(self) -> str:
        """The caller's X-Request-Id when well formed, else API Gateway's request id (worked out once
        per request: every answer and log line names it)."""
        event = self.current_event
        known = getattr(event, "_request_id", None)
        if known is None:
            supplied = self.header("x-request-id")
            known = supplied if supplied and _REQUEST_ID.match(supplied) else \
                event.request_context.request_id or "unknown"
            event._request_id = known
        return known

    def gateway_request_id(self) -> str | None:
        """API Gateway's own id for this request, never the caller's header: unique per request, so
        the meter counts a call once under it (a caller-chosen id could be sent with many calls)."""
        return self.current_event.request_context.request_id or None

    def caller(self, mismatch: type[DomainError] = ForbiddenError) -> Tenant:
        """The caller's tenant, from the API key id API Gateway verified; never from the body. A tenant
        header (X-Org-Id / X-Tenant-Id), if sent, must name the same tenant: a mismatch is a 403 (or
        `mismatch`: the offer-decisioning dialect answers 401, as its API did)."""
        if self._resolve_tenant is None:
            raise RuntimeError("this function has no tenant resolver")
        event = self.current_event
        if self.portal_caller():
            if self._resolve_tenant_id is None:
                raise UnauthorizedError("this route takes an API key, not a portal token")
            tenant = self._resolve_tenant_id(str(event.request_context.authorizer.get("tenant_id") or ""))
        elif self.key_value_caller():
            tenant = self._key_value_tenant()
        else:
            tenant = self._resolve_tenant(event.request_context.identity.api_key_id)
        for header in TENANT_HEADERS:
            claimed = self.header(header)
            if claimed is not None and claimed.strip() != tenant.tenant_id:
                raise mismatch(f"the {header} header does not match the API key's tenant")
        return tenant

    def portal_caller(self) -> bool:
        """True for a request the authorizer let in on a verified portal (Cognito) token: no API key,
        the tenant and role in `requestContext.authorizer`, which only the authorizer can set."""
        context = self.current_event.request_context
        return not context.identity.api_key_id and context.authorizer.get("principal") == PORTAL_PRINCIPAL

    def key_value_caller(self) -> bool:
        """True for a request with an API key that API Gateway did not check (the route requires none):
        only a function given `resolve_key_value` takes it, validating the value itself."""
        return (self._resolve_key_value is not None and not self.current_event.request_context.identity.api_key_id
                and not self.portal_caller() and self.credential() is not None)

    def credential(self) -> str | None:
        """The API key or bearer value the request carries, read as the authorizer reads it."""
        return credential_from_headers(self.current_event.headers)

    def _key_value_tenant(self) -> Tenant:
        """The tenant of the request's key value, looked up once per request (401 unknown or revoked)."""
        if "_key_tenant" not in self.context:
            self.append_context(_key_tenant=self._resolve_key_value(self.credential() or ""))
        return self.context["_key_tenant"]

    def body(self, model: type[M]) -> M:
        """The JSON body validated against `model` (415 if not JSON, 400 if malformed, 422 if invalid)."""
        return validate(model, self.json_body())

    def batch(self, model: Any) -> Any:
        """A batch body taken entry by entry by `model.split` (an http.batches.BatchRequest): the valid
        entries and the rejected ones by index; 415, 400 and 422 for the request as a whole."""
        return model.split(self.json_body())

    def json_body(self) -> Any:
        """The body parsed as JSON (415 if not JSON, 400 if malformed)."""
        event = self.current_event
        content_type = (self.header("content-type") or "").split(";")[0]
        content_type = content_type.strip().lower()
        if content_type != "application/json" and not (content_type.startswith("application/")
                                                      and content_type.endswith("+json")):
            raise UnsupportedMediaType("the request body must be application/json")
        raw = event.body or ""
        if event.is_base64_encoded:
            raw = base64.b64decode(raw).decode("utf-8", errors="replace")
        return parse_json(raw)

    def dialect(self, default: str, fields: tuple[str, ...] = (), when_fields: str = "") -> str:
        """Which wire format answers a path several APIs share: the `X-Api-Dialect` header when sent,
        else `when_fields` if the request names any of `fields` (in its JSON body or query string), else
        `default`. Every dialect is a presenter over the same service call."""
        chosen = (self.header("x-api-dialect") or "").strip().lower()
        if chosen:
            return chosen
        if fields and set(self.sent()) & set(fields):
            return when_fields
        return default

    def remaining_ms(self) -> int | None:
        """What the Lambda invocation has left (None outside Lambda): a request's time budget stays within it."""
        return self.lambda_context.get_remaining_time_in_millis() if self.lambda_context is not None else None

    def sent(self) -> dict[str, Any]:
        """The request's fields as sent: the JSON body's, else the query string's (a dialect's defaults
        depend on whether a field was given at all, which the validated model no longer tells)."""
        try:
            body = self.json_body() if self.current_event.body else None
        except Exception:  # noqa: BLE001 - the route's own parsing reports a bad body
            body = None
        return body if isinstance(body, dict) else dict(self.current_event.query_string_parameters or {})

    def query(self, model: type[M], lists: tuple[str, ...] = ()) -> M:
        """The query string validated against `model`; the `lists` parameters are comma-separated."""
        params: dict[str, Any] = dict(self.current_event.query_string_parameters or {})
        for name in lists:
            if name in params:
                params[name] = [v for v in params[name].split(",") if v]
        return validate(model, params)

    # ------------------------------------------------------------------ answers
    def json(self, status: int, body: dict | list, headers: dict[str, str] | None = None) -> Response:
        return Response(status_code=status, content_type="application/json", body=dump_json(body),
                        headers={"X-Request-Id": self.request_id(), **(headers or {})})

    def accepted(self, body: dict, status_url: str) -> Response:
        """202 for work that runs on: the body names where to poll, and so does the Location header."""
        response = self.json(202, {**body, "status_url": status_url})
        response.headers["Location"] = status_url
        return response

    def no_content(self, headers: dict[str, str] | None = None) -> Response:
        return Response(status_code=204, body="", headers={"X-Request-Id": self.request_id(), **(headers or {})})

    def problem(self, status: int, slug: str, detail: str, errors=None, headers=None, extra=None) -> Response:
        response = problem_response(status, slug, detail, instance=self.current_event.path,
                                    request_id=self.request_id(), errors=errors, headers=headers, extra=extra)
        response.headers["X-Request-Id"] = self.request_id()
        return response

    # ------------------------------------------------------------------ errors
    def _install_error_handlers(self) -> None:
        @self.exception_handler(Problem)
        def _problem(exc: Problem) -> Response:
            return self.problem(exc.status, exc.slug, exc.detail, exc.errors, exc.headers, exc.extra)

        @self.exception_handler(DomainError)
        def _domain(exc: DomainError) -> Response:
            mapped = _status(exc)
            if mapped is None:
                logger.exception("unmapped domain error")
                return self.problem(500, "internal-error", "the request could not be completed")
            status, slug = mapped
            if status == 408:
                return self.problem(status, slug, str(exc), headers={"Retry-After": "1"})
            if status == 502:  # the provider adapter wrote a safe detail (class, status, code; no key)
                logger.error("payment provider failure", extra={"error": str(exc)})
                headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
                return self.problem(status, slug, str(exc), headers=headers)
            if status >= 500 and status != 501:
                logger.error("dependency failure", extra={"error": str(exc)})
                return self.problem(status, slug, "a backing service is unavailable; retry with backoff",
                                    headers={"Retry-After": "1"})
            headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
            return self.problem(status, slug, str(exc), headers=headers, extra=exc.details)

        @self.not_found
        def _not_found(exc: PowertoolsNotFound) -> Response:
            return self.problem(404, "not-found", "no such route")

        @self.exception_handler(Exception)
        def _unexpected(exc: Exception) -> Response:
            if no_answer(exc):  # a timeout a store let through: the dependency failed, not the code
                logger.error("dependency failure", extra={"error": type(exc).__name__})
                return self.problem(503, SLUG_OF_CODE["store-unavailable"], "a backing service is unavailable; "
                                    "retry with backoff", headers={"Retry-After": "1"})
            logger.exception("unhandled error")
            return self.problem(500, "internal-error", "the request could not be completed")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(raw: str) -> Any:
    """The body as JSON, or a 400: NaN and Infinity literals (Python's json takes them) and text that
    is not valid Unicode are refused, and so is JSON nested too deep to parse."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise MalformedJson("the request body is nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise MalformedJson(f"the request body is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(raw) or not _encodable(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            raise MalformedJson("the request body holds a lone surrogate (not valid Unicode)") from None
    return data


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def dump_json(body: Any) -> str:
    """A body that is always valid JSON: a non-finite number (never expected) is answered as null."""
    try:
        return json.dumps(body, allow_nan=False)
    except ValueError:
        logger.warning("a response held a non-finite number; answered as null")
        return json.dumps(_finite(body), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def field_errors(exc: ValidationError, prefix: tuple = ()) -> list[dict]:
    """FieldError dicts of a ValidationError; a free-form value's error names the path inside it."""
    errors = []
    for e in exc.errors(include_url=False, include_input=False):
        inner = (e.get("ctx") or {}).get("path")
        loc = [*prefix, *e["loc"], *([inner] if inner else [])]
        errors.append({"field": ".".join(str(p) for p in loc) or "(body)", "message": e["msg"], "code": e["type"]})
    return errors


def validate(model: type[M], data: object) -> M:
    """`data` as `model`, or a 422 naming every invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("the request does not match the schema", errors=field_errors(exc)) from None


def _route_latency(app: Api, next_middleware: Callable[[Api], Response]) -> Response:
    """Latency per route (milliseconds, dimension `route` = "METHOD /resource") for the p99 alarm."""
    started = time.perf_counter()
    try:
        return next_middleware(app)
    finally:
        event = app.current_event
        count("Latency", round((time.perf_counter() - started) * 1000, 3), MetricUnit.Milliseconds,
              route=f"{event.http_method} {event.resource}")


def _require_role(app: Api, next_middleware: Callable[[Api], Response]) -> Response:
    """The one role check: the role the authorizer read from the key (`requestContext.authorizer.role`)
    against the least role the matched route needs (tenancy.roles.ROUTE_ROLES). Fails closed: a route
    missing from the table, or a keyed request without a valid role, is refused with 403."""
    route = app.context.get("_route")
    if not any(route is served for served in app._static_routes + app._dynamic_routes):
        return next_middleware(app)  # Powertools' not-found route: it answers 404 and touches nothing
    name = f"{route.method} {route.openapi_path}"
    try:
        needed = required_role(route.method, route.openapi_path)
    except UnlistedRouteError as exc:
        logger.error("route missing from the role table", extra={"route": name})
        raise InsufficientScopeError(f"{exc}; refused") from None
    if needed is PUBLIC:
        return next_middleware(app)
    context = app.current_event.request_context
    if app.key_value_caller():
        # No key check at API Gateway on this route: the value is validated here, before any handler
        # runs (401 unknown or revoked), and its role read from the value as the authorizer reads it.
        app._key_value_tenant()
        held = role_of_key(app.credential() or "")
    elif not context.identity.api_key_id and not app.portal_caller():
        raise UnauthorizedError("API key is missing")
    else:
        held = parse_role(context.authorizer.get("role"))
    if held is None or not held.allows(needed):
        count("RoleRefused", route=name, needed=needed.value)
        has = f"its role is {held.value}" if held else "it carries no role"
        raise InsufficientScopeError(f"this route needs an API key with the {needed.value} role or above; {has}")
    return next_middleware(app)
