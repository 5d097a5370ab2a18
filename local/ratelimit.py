"""The local stand-in for the API's WAF rate-based rules (template.yaml `ApiWebAcl`), read from the
template as API Gateway's routes are: each rule's limit, window, which requests it counts (a regex on
the path, or a prefix of a header) and what it counts them by (the client IP, or a header's value).
The gateway asks before routing, as WAF answers before API Gateway; a request past a rule's limit is a
429 problem with Retry-After. Counting is exact here (a sliding log per key over the window); WAF's
is near the limit, checked every few seconds (docs/adr/0006-rate-limits.md)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

from .template import resources

WEB_ACL = "ApiWebAcl"
SWEEP_EVERY = 1024  # requests between sweeps of keys idle for a whole window (memory stays bounded)


class UnsupportedRuleError(ValueError):
    """A WAF statement this stand-in does not interpret: extend it rather than enforce less locally."""


@dataclass
class RateRule:
    """One rate-based rule: `matches(path, headers)` says whether it counts the request, `key_of(headers,
    source_ip)` what it counts it under (None: the request lacks the key, and WAF does not count it)."""

    name: str
    limit: int
    window_s: float
    matches: Callable[[str, Mapping[str, str]], bool]
    key_of: Callable[[Mapping[str, str], str], str | None]
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque] = field(default_factory=dict)
    _calls: int = 0

    def admit(self, key: str) -> float:
        """0 when the request may go on (and is counted); else seconds until the window has room."""
        now = self.clock()
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            for stale in [k for k, times in self._seen.items() if not times or times[-1] <= now - self.window_s]:
                del self._seen[stale]
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window_s - now
        times.append(now)
        return 0.0


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if isinstance(v, str)}


def _transform(value: str, transformations: list[dict]) -> str:
    for step in sorted(transformations, key=lambda t: t["Priority"]):
        if step["Type"] == "LOWERCASE":
            value = value.lower()
        elif step["Type"] == "COMPRESS_WHITE_SPACE":
            value = re.sub(r"[ \t\n\r\f\v]+", " ", value)
        elif step["Type"] != "NONE":
            raise UnsupportedRuleError(f"text transformation {step['Type']}")
    return value


def _field(spec: dict) -> Callable[[str, Mapping[str, str]], str | None]:
    if "UriPath" in spec:
        return lambda path, headers: path
    if "SingleHeader" in spec:
        name = spec["SingleHeader"]["Name"].lower()
        return lambda path, headers: _lower(headers).get(name)
    raise UnsupportedRuleError(f"field to match {sorted(spec)}")


def _scope(statement: dict) -> Callable[[str, Mapping[str, str]], bool]:
    if "RegexMatchStatement" in statement:
        st = statement["RegexMatchStatement"]
        pattern, read = re.compile(st["RegexString"]), _field(st["FieldToMatch"])

        def regex(path: str, headers: Mapping[str, str]) -> bool:
            value = read(path, headers)
            return value is not None and bool(pattern.search(_transform(value, st["TextTransformations"])))
        return regex
    if "ByteMatchStatement" in statement:
        st = statement["ByteMatchStatement"]
        if st["PositionalConstraint"] != "STARTS_WITH":
            raise UnsupportedRuleError(f"positional constraint {st['PositionalConstraint']}")
        prefix, read = st["SearchString"], _field(st["FieldToMatch"])

        def starts(path: str, headers: Mapping[str, str]) -> bool:
            value = read(path, headers)
            return value is not None and _transform(value, st["TextTransformations"]).startswith(prefix)
        return starts
    if "AndStatement" in statement:
        parts = [_scope(st) for st in statement["AndStatement"]["Statements"]]
        return lambda path, headers: all(part(path, headers) for part in parts)
    if "NotStatement" in statement:
        inner = _scope(statement["NotStatement"]["Statement"])
        return lambda path, headers: not inner(path, headers)
    raise UnsupportedRuleError(f"scope-down statement {sorted(statement)}")


def _key(rate: dict) -> Callable[[Mapping[str, str], str], str | None]:
    if rate["AggregateKeyType"] == "IP":
        return lambda headers, source_ip: source_ip
    keys = rate.get("CustomKeys") or []
    if rate["AggregateKeyType"] == "CUSTOM_KEYS" and len(keys) == 1 and "Header" in keys[0]:
        name, steps = keys[0]["Header"]["Name"].lower(), keys[0]["Header"]["TextTransformations"]

        def header(headers: Mapping[str, str], source_ip: str) -> str | None:
            value = _lower(headers).get(name)
            return None if value is None else _transform(value, steps)
        return header
    raise UnsupportedRuleError(f"aggregation {rate['AggregateKeyType']} {keys}")


def rules_from_template(clock: Callable[[], float] = time.monotonic, template: dict | None = None) -> list[RateRule]:
    """The web ACL's rate-based rules, in priority order, each counting on `clock`."""
    acl = resources("AWS::WAFv2::WebACL", template).get(WEB_ACL)
    if acl is None:
        return []
    out = []
    for rule in sorted(acl["Properties"]["Rules"], key=lambda r: r["Priority"]):
        rate = rule["Statement"]["RateBasedStatement"]
        out.append(RateRule(rule["Name"], int(rate["Limit"]), float(rate.get("EvaluationWindowSec", 300)),
                            _scope(rate["ScopeDownStatement"]), _key(rate), clock))
    return out


class RateLimits:
    """Every rule, asked per request before routing; thread-safe (the gateway serves in threads)."""

    def __init__(self, rules: list[RateRule] | None = None, clock: Callable[[], float] = time.monotonic):
        self.rules = rules if rules is not None else rules_from_template(clock)
        self._lock = threading.Lock()

    def check(self, path: str, headers: Mapping[str, str], source_ip: str) -> tuple[int, dict[str, str], bytes] | None:
        """None when every rule admits the request; else the 429 problem to answer."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(path, headers):
                    continue
                key = rule.key_of(headers, source_ip)
                if key is None:
                    continue
                wait = rule.admit(key)
                if wait > 0:
                    return too_many(rule, wait)
        return None


def too_many(rule: RateRule, wait_s: float) -> tuple[int, dict[str, str], bytes]:
    body = {"type": "/problems/rate-limited", "title": "Too Many Requests", "status": 429,
            "detail": f"rate limit exceeded: {rule.limit} requests per {rule.window_s:g} s ({rule.name})"}
    return 429, {"Content-Type": "application/problem+json", "Retry-After": str(max(1, math.ceil(wait_s)))}, \
        json.dumps(body).encode()
