"""Faults injected on the real client path: botocore `before-call` hooks on the very clients the
runtime builds (recengine.aws.clients), answering an operation with an AWS error, or raising a
read timeout, as the SDK would after its own retries gave up. Nothing reaches moto for an
injected call; every other call goes through unchanged. Also records which calls a request makes,
so that the fault matrix is built from what the code really calls."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

from botocore.exceptions import ReadTimeoutError

# fault kind -> (AWS error code, HTTP status); None: the connection times out instead
KINDS: dict[str, tuple[str, int] | None] = {
    "throttling": ("ThrottlingException", 400),
    "throughput": ("ProvisionedThroughputExceededException", 400),
    "internal": ("InternalServerError", 500),
    "unavailable": ("ServiceUnavailable", 503),
    "slowdown": ("SlowDown", 503),  # S3's throttling
    "timeout": None,
    "unprocessed": ("", 200),  # a batch call that succeeds but hands every item back as unprocessed
}


class _Raw:
    """The raw body botocore reads an HTTP response from."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any):
        yield self.body


def http_error(url: str, code: str, status: int) -> Any:
    """An AWS JSON-protocol error as it comes off the wire (DynamoDB's shape), for before-send."""
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}"})
    return AWSResponse(url, status, {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"},
                       _Raw(body.encode()))


class LambdaTimeout(BaseException):
    """The Lambda runtime stopping an invocation at its timeout: nothing after it runs, and no
    `except Exception` sees it (the process is gone)."""


def resource(service: str, params: dict, names: dict[str, str]) -> str:
    """What a call addresses, by the template's name (`names`: physical -> logical): the table (and
    index), or the kind of object (`models`, `batch`). It tells apart two calls of one operation:
    the GetItem on the tenants table from the one on the models table."""
    if service == "s3":
        key = params.get("Key") or params.get("Prefix") or ""
        return "models" if "/models/" in key else "batch" if "/batch/" in key else "other"
    if "TableName" in params:
        table = names.get(params["TableName"], params["TableName"])
        return table + (f"/{params['IndexName']}" if params.get("IndexName") else "")
    if "RequestItems" in params:
        return ",".join(sorted(names.get(t, t) for t in params["RequestItems"]))
    if "TransactItems" in params:
        tables = {next(iter(i.values()))["TableName"] for i in params["TransactItems"]}
        return ",".join(sorted(names.get(t, t) for t in tables))
    return ""


@dataclass
class Fault:
    """One operation made to fail: every call (`nth` None), or only the nth (1-based); `when`
    narrows the calls that count by their parameters. `raise_` overrides the answer."""

    service: str
    operation: str
    kind: str
    resource: str | None = None  # only calls addressing this table (see `resource`)
    nth: int | None = None
    when: Callable[[dict], bool] | None = None
    raise_: BaseException | None = None
    seen: int = 0
    injected: int = 0

    def answer(self, params: dict, addressed: str) -> Any:
        if self.resource is not None and addressed != self.resource:
            return None
        if self.when is not None and not self.when(params):
            return None
        self.seen += 1
        if self.nth is not None and self.seen != self.nth:
            return None
        self.injected += 1
        if self.raise_ is not None:
            raise self.raise_
        spec = KINDS[self.kind]
        if self.kind == "unprocessed":
            unprocessed = "UnprocessedKeys" if self.operation == "BatchGetItem" else "UnprocessedItems"
            return SimpleNamespace(status_code=200, headers={}, content=b""), {
                "Responses": {}, unprocessed: params["RequestItems"], "ResponseMetadata": {"HTTPStatusCode": 200}}
        if spec is None:
            raise ReadTimeoutError(endpoint_url=f"https://{self.service}.us-east-1.amazonaws.com")
        code, status = spec
        parsed = {"Error": {"Code": code, "Message": f"injected {code}"},
                  "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}
        return SimpleNamespace(status_code=status, headers={}, content=b""), parsed


@dataclass
class Injector:
    """Hooks on the runtime's clients (service name -> botocore client)."""

    clients: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # physical table name -> the template's
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, str, str]] | None = None
    params: list[dict] = field(default_factory=list)  # the API parameters of each recorded call
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)  # the call's parameters, per thread
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for service, client in self.clients.items():
            client.meta.events.register_first(f"before-parameter-build.{service}", self._parameters,
                                              unique_id=f"faults-params-{service}")
            client.meta.events.register_first(f"before-call.{service}", self._before_call,
                                              unique_id=f"faults-{service}")

    def close(self) -> None:
        for service, client in self.clients.items():
            client.meta.events.unregister(f"before-parameter-build.{service}", unique_id=f"faults-params-{service}")
            client.meta.events.unregister(f"before-call.{service}", unique_id=f"faults-{service}")

    def _parameters(self, params, **_: Any) -> None:
        """The API parameters (before-call sees the serialised request): kept for this thread's call."""
        self._local.params = dict(params)

    def _before_call(self, model, **_: Any) -> Any:
        service = model.service_model.service_name
        params = getattr(self._local, "params", {})
        addressed = resource(service, params, self.names)
        with self._lock:
            if self.calls is not None:
                self.calls.append((service, model.name, addressed))
                self.params.append(params)
            faults = [f for f in self.faults if (f.service, f.operation) == (service, model.name)]
            for fault in faults:
                answer = fault.answer(params, addressed)
                if answer is not None:
                    return answer
        return None

    def inject(self, service: str, operation: str, kind: str = "internal", *, resource: str | None = None,
               nth: int | None = None, when: Callable[[dict], bool] | None = None,
               raise_: BaseException | None = None) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(service, operation, kind, resource, nth, when, raise_)
        with self._lock:
            self.faults.append(fault)
        return fault

    def transient(self, operation: str, code: str = "ThrottlingException", status: int = 400,
                  times: int = 1) -> dict:
        """DynamoDB answers the first `times` attempts of `operation` with `code` on the wire
        (before-send: the SDK parses it and its retry policy applies, as with a real throttle)."""
        state = {"answered": 0}
        event = f"before-send.dynamodb.{operation}"

        def before_send(request, **_: Any) -> Any:
            if state["answered"] >= times:
                return None
            state["answered"] += 1
            return http_error(request.url, code, status)

        self.clients["dynamodb"].meta.events.register_first(event, before_send, unique_id=f"faults-send-{operation}")
        self._undo.append(lambda: self.clients["dynamodb"].meta.events.unregister(
            event, unique_id=f"faults-send-{operation}"))
        return state

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.calls = None
            while self._undo:
                self._undo.pop()()

    def record(self) -> list[tuple[str, str, str]]:
        """Starts recording calls; the returned list fills as they are made (until `clear`)."""
        with self._lock:
            self.calls, self.params = [], []
            return self.calls
