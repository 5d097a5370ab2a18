"""The one place that makes the Powertools Logger, Tracer and Metrics; handlers wrap themselves
with `lambda_handler`, domains emit business metrics through `count` and time work with `timed`.

Powertools reads its own POWERTOOLS_* variables (declared in recengine.settings). Each metric is
its own EMF record (Powertools' CloudWatch EMF provider), so that one request can count warnings
of several codes, and functions sharing a process (the local stack) never mix their dimensions.
The Tracer is built on the first invocation, not at import: constructing it imports the X-Ray SDK
(over 100 ms), which a cold start should not pay before it knows it serves a request."""

from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

logger = Logger()

_tracer: Any = None
_tracer_lock = threading.Lock()


class _NoTracer:
    """Outside Lambda (the local stack, tests) Powertools would build a disabled Tracer, yet import
    the X-Ray SDK and open its UDP socket to do so; this stands in for it instead."""

    disabled = True

    @staticmethod
    def capture_lambda_handler(handler: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
        return handler


def tracer() -> Any:
    """The process's Tracer (X-Ray), built on first use; a stand-in where tracing is off."""
    global _tracer
    if _tracer is None:
        with _tracer_lock:
            if _tracer is None:
                from aws_lambda_powertools import Tracer

                _tracer = _NoTracer() if Tracer._is_tracer_disabled() else Tracer()
    return _tracer


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One business metric as its own EMF record, so that its dimensions (a warning code, a list's
    source) do not leak into the other metrics of the invocation."""
    try:
        if is_metrics_disabled():  # read per call, as the provider does: nothing would be printed
            return
        record = AmazonCloudWatchEMFProvider()  # namespace and service from POWERTOOLS_*
        record.add_metric(name=name, unit=unit, value=value)
        for key, dim in dimensions.items():
            record.add_dimension(name=key, value=str(dim))
        record.flush_metrics()  # prints the EMF line unless POWERTOOLS_METRICS_DISABLED
    except Exception:  # noqa: BLE001 - a metric must never cost a request
        logger.debug("metric not emitted", extra={"metric": name})


@contextmanager
def timed(name: str, **dimensions: str) -> Iterator[None]:
    """Emits how long the block took (milliseconds) as `name`, and traces it as a subsegment."""
    started = time.perf_counter()
    with _subsegment(name):
        try:
            yield
        finally:
            count(name, round((time.perf_counter() - started) * 1000, 3), MetricUnit.Milliseconds, **dimensions)


@contextmanager
def _subsegment(name: str) -> Iterator[None]:
    t = tracer()
    if t.disabled:
        yield
        return
    with t.provider.in_subsegment(f"## {name}"):
        yield


def carry_trace(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` to run on another thread with the request's X-Ray segment: the X-Ray context is
    thread-local, and an AWS call on a pool thread would otherwise be traced nowhere (and logged as
    a missing context)."""
    t = tracer()
    if t.disabled:
        return fn
    recorder = t.provider  # the X-Ray SDK's recorder (as in _subsegment)
    entity = recorder.get_trace_entity()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        recorder.set_trace_entity(entity)
        try:
            return fn(*args, **kwargs)
        finally:
            recorder.clear_trace_entities()

    return run


def lambda_handler(handler: Callable[[dict, Any], Any] | None = None, *, correlation_id_path: str | None = None
                   ) -> Any:
    """Wraps a function's entry point: structured logs with the Lambda context (and the API
    request id as correlation id), an X-Ray segment for the invocation, a cold-start metric."""

    def decorate(fn: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
        logged = logger.inject_lambda_context(_correlated(fn, correlation_id_path) if correlation_id_path else fn)
        traced: list[Callable[[dict, Any], Any]] = []

        @functools.wraps(fn)
        def wrapper(event: dict, context: Any) -> Any:
            if not traced:
                count("ColdStart", function=getattr(context, "function_name", "unknown"))
                traced.append(tracer().capture_lambda_handler(logged))
            return traced[0](event, context)

        return wrapper

    return decorate(handler) if handler is not None else decorate


def _correlated(fn: Callable[[dict, Any], Any], path: str) -> Callable[[dict, Any], Any]:
    """`fn` that first sets the log's correlation id from the event, as `inject_lambda_context(
    correlation_id_path=path)` does (after the context keys, before the handler), with the expression
    compiled and Powertools' JMESPath functions built once, not on every invocation."""
    import jmespath
    from aws_lambda_powertools.exceptions import InvalidEnvelopeExpressionError
    from aws_lambda_powertools.utilities.jmespath_utils import PowertoolsFunctions
    from jmespath.exceptions import LexerError

    expression = jmespath.compile(path)
    options = jmespath.Options(custom_functions=PowertoolsFunctions())

    @functools.wraps(fn)
    def run(event: dict, context: Any) -> Any:
        try:
            value = expression.search(event, options=options)
        except (LexerError, TypeError, UnicodeError) as exc:
            raise InvalidEnvelopeExpressionError(f"Failed to unwrap event from envelope using expression. "
                                                 f"Error: {exc} Exp: {path}") from exc
        logger.set_correlation_id(value)
        return fn(event, context)

    return run


def partial_batch(event: dict, handle: Callable[[dict], tuple[str, dict]], failed: str) -> dict:
    """An SQS-triggered handler's loop: each record's JSON body through `handle` (which returns the
    log line and its fields for a success), every record that raised reported back as a batch item failure, so SQS
    redelivers only those (the event source maps ReportBatchItemFailures)."""
    import json

    failures = []
    for record in event.get("Records", []):
        try:
            line, fields = handle(json.loads(record["body"]))
            logger.info(line, extra=fields)
        except Exception:  # noqa: BLE001 - this message is redelivered, the others are not
            logger.exception(failed, extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
