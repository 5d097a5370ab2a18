"""A small local stand-in for API Gateway (REST) and its WAF: routes requests by template.yaml, applies
the web ACL's rate rules (local/ratelimit.py), checks API keys, enforces each key's usage plan
(token-bucket throttle + quota, 429 with Retry-After), turns requests into proxy events and invokes
the function handlers in-process."""

from __future__ import annotations

import calendar
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import boto3

from tools.admin.target import STATE_ENV  # the local stack's state file (written by local/stack.py)

from .ratelimit import RateLimits
from .template import ROOT, Authorizer, Route, routes, stage_name

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


_loading = threading.Lock()


def load_handler(route: Route | Authorizer) -> Callable[[dict, Any], dict]:
    """Imports functions/<name>/app.py under a unique module name (each file is called app.py), once:
    concurrent first requests wait for the one import instead of reading a half-run module (which
    surfaced as a rare 401 from the authorizer under `make load`)."""
    module_name = f"fn_{route.function}"
    with _loading:
        module = sys.modules.get(module_name)
        if module is None:
            path = ROOT / route.code_uri / f"{route.handler.split('.')[0]}.py"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[module_name] = module  # published once complete
    return getattr(module, route.handler.split(".")[1])


def authorize(authorizer: Authorizer, method: str, path: str, headers: dict[str, str], query: list[tuple[str, str]],
              stage: str) -> tuple[bool, str | None, dict | None]:
    """Runs the REQUEST authorizer as API Gateway would: (allowed, usageIdentifierKey, the
    `requestContext.authorizer` the function will see: principalId, integrationLatency and the
    answer's context). A raised "Unauthorized" is a 401; a Deny policy a 403."""
    event = {"type": "REQUEST", "methodArn": f"arn:aws:execute-api:local:000000000000:local/{stage}/{method}{path}",
             "resource": path, "path": path, "httpMethod": method, "headers": dict(headers),
             "queryStringParameters": dict(query) or None, "requestContext": {"stage": stage}}
    started = time.perf_counter()
    try:
        answer = load_handler(authorizer)(event, LambdaContext(authorizer.function))
    except Exception:  # noqa: BLE001 - any authorizer failure is API Gateway's 401
        import traceback

        traceback.print_exc()  # as API Gateway logs it: a 401 from a crash must not look like a bad key
        return False, None, None
    statements = answer.get("policyDocument", {}).get("Statement", [])
    allowed = bool(statements) and all(st.get("Effect") == "Allow" for st in statements)
    # API Gateway hands on only string, number and boolean context values (a deployed one fails on others).
    context = {k: v for k, v in (answer.get("context") or {}).items() if isinstance(v, (str, int, float, bool))}
    claims = {**context, "principalId": answer.get("principalId"),
              "integrationLatency": int((time.perf_counter() - started) * 1000)}
    return allowed, answer.get("usageIdentifierKey"), claims


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_s: float = 29.0
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def proxy_event(route: Route, method: str, path: str, headers: dict[str, str], query: list[tuple[str, str]],
                body: bytes, path_params: dict[str, str], api_key: str | None, api_key_id: str | None,
                source_ip: str, stage: str, authorizer: dict | None = None) -> dict:
    """An API Gateway REST (v1) proxy event, as Lambda receives it; `authorizer` is what the Lambda
    authorizer handed on (`requestContext.authorizer`: its context, principalId, integrationLatency)."""
    multi_headers: dict[str, list[str]] = {}
    for k, v in headers.items():
        multi_headers.setdefault(k, []).append(v)
    multi_query: dict[str, list[str]] = {}
    for k, v in query:
        multi_query.setdefault(k, []).append(v)
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        import base64

        text, is_b64 = base64.b64encode(body).decode(), True
    request_id = str(uuid.uuid4())
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path, "httpMethod": method, "path": f"/{stage}{path}", "stage": stage,
            "requestId": request_id, "extendedRequestId": request_id, "requestTimeEpoch": int(time.time() * 1000),
            "protocol": "HTTP/1.1", "accountId": "000000000000", "apiId": "local",
            "identity": {"apiKey": api_key, "apiKeyId": api_key_id, "sourceIp": source_ip,
                         "userAgent": headers.get("User-Agent") or headers.get("user-agent")},
            **({"authorizer": dict(authorizer)} if authorizer is not None else {}),
        },
        "body": text if body else None,
        "isBase64Encoded": is_b64,
    }


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()

    def take(self) -> float:
        """0 if a token was taken, else seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class KeyState:
    key_id: str
    bucket: TokenBucket
    quota_limit: int
    quota_period: str
    used: int = 0
    period: str = ""
    plan_id: str = ""


def _period(kind: str, now: float) -> str:
    t = time.gmtime(now)
    return {"DAY": time.strftime("%Y-%m-%d", t), "WEEK": time.strftime("%G-W%V", t)}.get(kind, time.strftime("%Y-%m", t))


def _seconds_to_period_end(kind: str, now: float) -> int:
    t = time.gmtime(now)
    if kind == "DAY":
        return 86400 - (t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec)
    if kind == "WEEK":
        return (7 - t.tm_wday) * 86400 - (t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec)
    year, month = (t.tm_year + (t.tm_mon == 12), t.tm_mon % 12 + 1)
    return max(1, int(calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0)) - now))


class KeyRegistry:
    """API key value -> key id and usage plan, read from the (moto) API Gateway service.

    Re-read every `refresh_s`, and at once when the local stack's state file changes: the admin CLI
    touches it after creating, rotating or revoking a key or changing a plan, so a revoked key is
    refused from the moment the CLI returns."""

    def __init__(self, apigw: Any = None, refresh_s: float = 5.0, state_file: str | Path | None = None):
        self._apigw = apigw
        self.refresh_s = refresh_s
        if state_file is None and os.environ.get(STATE_ENV):
            state_file = os.environ[STATE_ENV]
        self.state_file = Path(state_file) if state_file else None
        self._state_seen: tuple[int, int] | None = self._state_stamp()
        self._keys: dict[str, KeyState] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def _state_stamp(self) -> tuple[int, int] | None:
        if self.state_file is None:
            return None
        try:
            st = self.state_file.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    @property
    def apigw(self) -> Any:
        if self._apigw is None:
            self._apigw = boto3.client("apigateway")
        return self._apigw

    def _reload(self) -> None:
        plans = {}
        for plan in self.apigw.get_usage_plans(limit=500).get("items", []):
            for key in self.apigw.get_usage_plan_keys(usagePlanId=plan["id"], limit=500).get("items", []):
                plans[key["id"]] = plan
        fresh: dict[str, KeyState] = {}
        for key in self.apigw.get_api_keys(includeValues=True, limit=500).get("items", []):
            plan = plans.get(key["id"])
            if not key.get("enabled") or plan is None:
                continue  # API Gateway rejects keys that are disabled or on no usage plan
            old = self._keys.get(key["value"])
            if old is not None and old.key_id == key["id"] and old.plan_id == plan["id"]:
                fresh[key["value"]] = old  # same key on the same plan: keep its bucket and quota count
                continue
            throttle, quota = plan.get("throttle", {}), plan.get("quota", {})
            fresh[key["value"]] = KeyState(key["id"], TokenBucket(float(throttle.get("rateLimit", 10)),
                                                                  int(throttle.get("burstLimit", 20))),
                                           int(quota.get("limit", 10**12)), quota.get("period", "MONTH"),
                                           plan_id=plan["id"])
            if old is not None and old.key_id == key["id"]:
                # A plan change: new throttle and quota, but the period's requests still count (as in API Gateway).
                fresh[key["value"]].used, fresh[key["value"]].period = old.used, old.period
        self._keys = fresh
        self._loaded = time.monotonic()

    def lookup(self, value: str | None) -> KeyState | None:
        if not value:
            return None
        with self._lock:
            stamp = self._state_stamp()
            if value not in self._keys or time.monotonic() - self._loaded > self.refresh_s or stamp != self._state_seen:
                self._state_seen = stamp
                self._reload()
            return self._keys.get(value)

    def admit(self, state: KeyState) -> tuple[str, int] | None:
        """None when the call may proceed, else (problem slug, Retry-After seconds)."""
        with self._lock:
            now = time.time()
            period = _period(state.quota_period, now)
            if state.period != period:
                state.period, state.used = period, 0
            if state.used >= state.quota_limit:
                return "quota-exceeded", _seconds_to_period_end(state.quota_period, now)
            wait = state.bucket.take()
            if wait > 0:
                return "rate-limited", max(1, int(wait + 0.999))
            state.used += 1
            return None


def _problem(status: int, slug: str, title: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


def _specificity(path: str) -> tuple[int, ...]:
    """Sorts a resource path before another that has a {variable} where it has a literal segment."""
    return tuple(int(segment.startswith("{")) for segment in path.strip("/").split("/"))


def method_not_allowed(method: str, allowed: list[str]) -> tuple[int, dict[str, str], bytes]:
    """A path the API serves, with a method none of its routes has: 405 naming the methods it has
    (RFC 9110 15.5.6), before any key check, as a method match comes first in API Gateway too.
    Deployed, API Gateway answers the template's MISSING_AUTHENTICATION_TOKEN gateway response
    (404, no Allow header) instead: it cannot tell this case from an unknown path (README, "Errors")."""
    methods = ", ".join(sorted(set(allowed)))
    status, headers, body = _problem(405, "method-not-allowed", "Method Not Allowed",
                                     f"{method} is not served here; allowed: {methods}")
    headers["Allow"] = methods
    return status, headers, body


class Gateway:
    def __init__(self, keys: KeyRegistry | None = None, route_list: list[Route] | None = None,
                 limits: RateLimits | None = None):
        self.routes = route_list or routes()
        self.keys = keys or KeyRegistry()
        self.limits = limits or RateLimits()  # the template's WAF rules, on the monotonic clock
        self.stage = stage_name()
        self._handlers: dict[str, Callable] = {}
        # One function invocation at a time in this process. An execution environment runs one request
        # at a time, so per function would do; but Powertools' resolver keeps the current event on its
        # BaseRouter class, which every function loaded into this one process shares: two functions
        # running at once read each other's event (a recommend seeing an interactions body answered
        # 422, one seeing a GET's headers 415, under `make load`). On Lambda each function is its own
        # process. The answers are CPU-bound under the GIL, so little concurrency is lost.
        self._invoking = threading.Lock()

    def warm(self) -> None:
        for route in self.routes:
            self._handler(route)

    def _handler(self, route: Route) -> Callable:
        if route.function not in self._handlers:
            self._handlers[route.function] = load_handler(route)
        return self._handlers[route.function]

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path
        limited = self.limits.check(path, headers, source_ip)  # WAF answers before API Gateway routes
        if limited:
            return limited
        # As API Gateway: the resource first (a literal segment beats a {variable}: /v1/models/train
        # is not /v1/models/{model_id}), then the method among that resource's.
        matching = [(r, m) for r in self.routes if (m := r.pattern.match(path))]
        if not matching:
            return _problem(404, "not-found", "Not Found", "no such route")
        resource = min((r.path for r, _ in matching), key=_specificity)
        found = [(r, m) for r, m in matching if r.path == resource and r.method == method]
        if not found:
            return method_not_allowed(method, [r.method for r, _ in matching if r.path == resource])
        route, match = found[0]
        lower = {k.lower(): v for k, v in headers.items()}
        api_key = lower.get("x-api-key")
        key_id, claims = None, None
        query = parse_qsl(parts.query, keep_blank_values=True)
        if route.authorizer is not None:
            with self._invoking:  # the authorizer is a function of this process too (see _invoking)
                allowed, usage_key, claims = authorize(route.authorizer, method, path, headers, query, self.stage)
            if usage_key is None and not allowed:
                return _problem(401, "unauthorized", "Unauthorized", "API key is missing or invalid")
            if not allowed:
                return _problem(403, "forbidden", "Forbidden", "the API key may not call this route")
            if route.authorizer.supplies_api_key:
                api_key = usage_key
        if route.api_key_required:
            state = self.keys.lookup(api_key)
            if state is None:
                return _problem(401, "unauthorized", "Unauthorized", "API key is missing or invalid")
            refused = self.keys.admit(state)
            if refused:
                slug, retry = refused
                status, hdrs, payload = _problem(429, slug, "Too Many Requests",
                                                 "usage plan quota exhausted" if slug == "quota-exceeded" else "rate limit exceeded")
                hdrs["Retry-After"] = str(retry)
                return status, hdrs, payload
            key_id = state.key_id
        event = proxy_event(route, method, path, headers, query, body,
                            match.groupdict(), api_key, key_id, source_ip, self.stage, claims)
        handler = self._handler(route)
        with self._invoking:
            try:
                result = handler(event, LambdaContext(route.function))
            except Exception:  # an unhandled Lambda error surfaces as API Gateway's 502
                import traceback

                traceback.print_exc()
                return _problem(502, "bad-gateway", "Bad Gateway", "the function failed")
        out_headers = dict(result.get("headers") or {})
        for k, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[k] = ", ".join(values)
        payload = result.get("body") or ""
        if result.get("isBase64Encoded"):
            import base64

            data = base64.b64decode(payload)
        else:
            data = payload.encode()
        return int(result["statusCode"]), out_headers, data


def serve(gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Starts the HTTP server in a background thread; returns it (server_address has the port)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, headers, payload = _problem(413, "payload-too-large", "Content Too Large",
                                                    "request body larger than 10 MB")
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                status, headers, payload = gateway.handle(self.command, self.path, dict(self.headers.items()), body,
                                                          self.client_address[0])
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in ("content-length", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has the headers of its body, never the body
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _any

        def __getattr__(self, name: str) -> Any:
            """Any other method token (RFC 9110 allows extension methods) goes through the routes too:
            a 405 or 404 problem, never http.server's 501."""
            if name.startswith("do_"):
                return self._any
            raise AttributeError(name)

        def log_message(self, fmt: str, *args: Any) -> None:  # one short line per request
            sys.stderr.write(f"[gateway] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()
    return server
