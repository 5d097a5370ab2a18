"""POST /graphql: one request (`{query, variables?, operationName?}`) parsed, checked against the
limits, run against schema.graphql with the resolvers bound, and every error answered in `errors[]`
with an `extensions.code` clients can switch on; internals never leave the function."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from graphql import (ExecutionResult, GraphQLError, GraphQLObjectType, GraphQLSchema, build_schema, execute_sync,
                     parse, specified_rules, validate)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..aws.clients import no_answer
from ..errors import DomainError
from ..http.app import SLUG_OF_CODE, STATUS_OF_CODE, field_errors
from ..http.problems import Problem
from ..observability import count, logger
from ..ranking.query import Client
from ..tenancy.model import Tenant
from ..tenancy.roles import Role
from .limits import MAX_BODY_BYTES, MAX_TOKENS, QueryLimits
from .resolvers import MUTATION_RESOLVERS, QUERY_RESOLVERS, Context, GraphqlDeps

SDL_PATH = Path(__file__).with_name("schema.graphql")
BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN = "BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN"
NOT_FOUND, PAYMENT_REQUIRED, RATE_LIMITED = "NOT_FOUND", "PAYMENT_REQUIRED", "RATE_LIMITED"
SERVICE_UNAVAILABLE, INTERNAL = "SERVICE_UNAVAILABLE", "INTERNAL"
# An HTTP status (the one REST answers for the same error) -> the GraphQL error code. A 401 or 429 is
# normally answered by the gateway before the function runs; a service raising one keeps its meaning.
CODE_OF_STATUS = {400: BAD_USER_INPUT, 409: BAD_USER_INPUT, 422: BAD_USER_INPUT, 401: UNAUTHENTICATED,
                  403: FORBIDDEN, 402: PAYMENT_REQUIRED, 404: NOT_FOUND, 408: SERVICE_UNAVAILABLE,
                  429: RATE_LIMITED, 501: SERVICE_UNAVAILABLE, 503: SERVICE_UNAVAILABLE}
UNAVAILABLE = "a backing service is unavailable; retry with backoff"


class GraphqlRequest(BaseModel):
    """The body of POST /graphql (GraphQL over HTTP): the document, its variables and which operation
    to run when it holds several. At most 64 KB in all."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_BODY_BYTES,
                       description="The GraphQL document: the operations of schema.graphql (queries "
                                   "getRecommendations, getSimilarItems, getApiVersion, getHealth; mutation "
                                   "recordInteraction, which needs a write key).")
    variables: dict[str, Any] | None = Field(default=None, description="Values of the operation's variables.")
    operationName: str | None = Field(default=None, max_length=256,
                                      description="The operation to run when the document holds several.")
    extensions: dict[str, Any] | None = Field(default=None, description="Accepted and ignored.")


class GraphqlResponse(BaseModel):
    """A GraphQL answer: `data`, and `errors[]` whose `extensions.code` is BAD_USER_INPUT, UNAUTHENTICATED,
    FORBIDDEN, NOT_FOUND, PAYMENT_REQUIRED, RATE_LIMITED, SERVICE_UNAVAILABLE or INTERNAL;
    `extensions.warnings` by field."""

    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    extensions: dict[str, Any] | None = None


@lru_cache(maxsize=1)
def schema() -> GraphQLSchema:
    """The committed SDL with its resolvers bound; a field without one fails here, at the first request."""
    built = build_schema(SDL_PATH.read_text())
    for type_, resolvers in ((built.query_type, QUERY_RESOLVERS), (built.mutation_type, MUTATION_RESOLVERS)):
        bind(type_, resolvers)
    return built


def bind(type_: GraphQLObjectType | None, resolvers: dict[str, Callable[..., Any]]) -> None:
    if type_ is None:
        raise RuntimeError("schema.graphql lacks a root type")
    missing = set(type_.fields) ^ set(resolvers)
    if missing:
        raise RuntimeError(f"{type_.name}: fields and resolvers differ: {sorted(missing)}")
    for name, resolver in resolvers.items():
        type_.fields[name].resolve = resolver


def execute(deps: GraphqlDeps, tenant: Tenant, role: Role | None, request: GraphqlRequest, client: Client,
            remaining_ms: Callable[[], int | None] = lambda: None) -> tuple[int, dict]:
    """(status, body): 200 with `data` and/or `errors` for everything GraphQL itself can say (the edge
    answers a body that is not a GraphQL request with a 400 before this)."""
    try:
        document = parse(request.query, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        return 200, {"errors": [_refusal(exc)]}
    refused = validate(schema(), document, [*specified_rules, QueryLimits])
    if refused:
        return 200, {"errors": [_refusal(e) for e in refused]}
    context = Context(deps, tenant, role, client, remaining_ms)
    result: ExecutionResult = execute_sync(schema(), document, context_value=context,
                                           variable_values=request.variables, operation_name=request.operationName)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_error(e) for e in result.errors]
    if context.warnings:
        body["extensions"] = {"warnings": context.warnings}
    return 200, body


def _refusal(error: GraphQLError) -> dict:
    """A document the schema or the limits refuse (syntax, unknown field, too deep, too many fields)."""
    count("GraphqlError", code=BAD_USER_INPUT)
    formatted = error.formatted
    formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": BAD_USER_INPUT}
    return formatted


def _error(error: GraphQLError) -> dict:
    """An execution error with its code. The message of a 5xx or an unexpected error is generic (logged
    in full); a 4xx keeps the service's own message, as its REST problem does."""
    formatted = error.formatted
    original = error.original_error
    extensions: dict[str, Any] = dict(formatted.get("extensions") or {})
    if original is None or isinstance(original, GraphQLError):  # variables that do not coerce, an unknown operation
        code = BAD_USER_INPUT
    elif isinstance(original, ValidationError):
        code, formatted["message"] = BAD_USER_INPUT, "the arguments do not match the schema"
        extensions["errors"] = field_errors(original)
    elif isinstance(original, (DomainError, Problem)):
        status, slug = _status(original)
        code = CODE_OF_STATUS.get(status, INTERNAL)
        extensions["type"] = f"/problems/{slug}"
        if isinstance(original, DomainError) and original.retry_after_s:  # REST's Retry-After
            extensions["retryAfter"] = original.retry_after_s
        if status >= 500 and status != 501:
            logger.error("dependency failure", extra={"error": str(original)})
            formatted["message"] = UNAVAILABLE
        elif status >= 500 or code == INTERNAL:
            formatted["message"] = "the request could not be completed"
    elif no_answer(original):
        logger.error("dependency failure", extra={"error": type(original).__name__})
        code, formatted["message"] = SERVICE_UNAVAILABLE, UNAVAILABLE
    else:
        logger.exception("unhandled error", exc_info=original)
        code, formatted["message"] = INTERNAL, "the request could not be completed"
    extensions["code"] = code
    formatted["extensions"] = extensions
    count("GraphqlError", code=code)
    return formatted


def _status(exc: DomainError | Problem) -> tuple[int, str]:
    """The HTTP status and problem slug REST answers for the same error (recengine.http.app's table)."""
    if isinstance(exc, Problem):
        return exc.status, exc.slug
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if code in STATUS_OF_CODE:
            return STATUS_OF_CODE[code], SLUG_OF_CODE.get(code, code)
    return 500, "internal-error"
