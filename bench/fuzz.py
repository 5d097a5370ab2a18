"""`make fuzz`: schemathesis over the committed docs/openapi.json against the local stack, and a report:
requests sent, requests per operation, failures by check, each with a curl that reproduces it.

    python -m bench.fuzz                                   # starts its own local stack (as tests/e2e does)
    python -m bench.fuzz --base-url URL --api-key KEY      # against a running `make run` (the admin key)

The CI test (tests/fuzz/test_openapi_fuzz.py) runs the same campaign with fewer examples per operation.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
SEED = 20261202
# What issue #12 asks of the document: no 5xx, every answer as documented, every valid request accepted.
CHECKS = ("not_a_server_error", "response_schema_conformance", "positive_data_acceptance")
# The CI run (tests/fuzz): explicit examples and generated ones. The coverage phase (boundary values
# of every field, unexpected methods) alone takes over 3 minutes here: `make fuzz` runs it.
CI_PHASES = ("examples", "fuzzing")
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis' defaults
NOT_A_SERVER_ERROR_ACCEPTED = ["2xx", "3xx", "4xx"]


@dataclass(frozen=True)
class Failure:
    operation: str
    check: str
    title: str
    message: str
    status: int | None
    curl: str
    answer: str  # the response body, cut short

    @property
    def why(self) -> str:
        """The status and the problem's first error message (or detail): what tells two findings apart."""
        try:
            problem = json.loads(self.answer)
        except ValueError:
            return f"{self.status} {self.title}"
        if not isinstance(problem, dict):  # a bare array or a scalar: not a problem document
            return f"{self.status} {self.title}"
        errors = problem.get("errors") or [{}]
        reason = errors[0].get("message") or problem.get("detail") or self.title
        return f"{self.status} {reason}"


@dataclass
class FuzzReport:
    requests: int = 0
    per_operation: Counter = field(default_factory=Counter)
    statuses: dict[str, Counter] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    stop_reason: str = ""

    def unique_failures(self) -> dict[tuple[str, str, str], list[Failure]]:
        """Failures grouped by (check, operation, why): one finding each, however many examples hit it."""
        groups: dict[tuple[str, str, str], list[Failure]] = {}
        for failure in self.failures:
            groups.setdefault((failure.check, failure.operation, failure.why), []).append(failure)
        return groups


def portal_token(base_url: str, stack_output: str) -> str | None:
    """A token of the portal admin the stack printed (`portal login: <email> <password>`), for the
    document's PortalToken scheme (the /api/users routes); None if the stack printed none."""
    import re
    import urllib.request

    found = re.search(r"portal login: (\S+) (\S+)", stack_output)
    if not found:
        return None
    request = urllib.request.Request(f"{base_url}/api/auth/login", method="POST", headers={
        "content-type": "application/json"}, data=json.dumps({"email": found[1], "password": found[2]}).encode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["token"]


def config(base_url: str, api_key: str, *, seed: int, max_examples: int, phases: tuple[str, ...],
           workers: int = 1, max_time: int | None = None, continue_on_failure: bool = False,
           portal_token: str | None = None):
    """A schemathesis configuration: the given checks only, authenticated with the document's ApiKey scheme."""
    import schemathesis

    checks = {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}
    # A valid request may still be refused for what it is not about: the plan's budget or limits
    # (402) and its own time budget (`timeout_ms`, 408); both documented. The rest of the default list.
    checks["positive_data_acceptance"]["expected-statuses"] = [*POSITIVE_ACCEPTED, "402", "408"]
    all_phases = ("examples", "coverage", "fuzzing", "stateful")
    data = {
        "seed": seed,
        "base-url": base_url,
        "workers": workers,
        # Past an operation's first failure: the long campaign counts every distinct one.
        "continue-on-failure": continue_on_failure,
        # Both schemes of the document's `security` (either one): the same admin key.
        # The portal's routes take a portal admin's token instead (PortalToken).
        "auth": {"openapi": {"ApiKey": {"api_key": api_key}, "BearerKey": {"bearer": api_key},
                             **({"PortalToken": {"bearer": portal_token}} if portal_token else {})}},
        # The curl lines must replay as sent (a `session_id` is not a secret); the key is masked below.
        "output": {"sanitization": {"enabled": False}},
        # Security parameters come from `auth` only: generated ones (an empty `Authorization`) are 401s.
        "generation": {"max-examples": max_examples, "deterministic": False, "database": "none",
                       "with-security-parameters": False},
        "checks": checks,
        "phases": {name: {"enabled": name in phases} for name in all_phases},
        "request-timeout": 30,
        # No state kept between runs (.schemathesis/): the same seed gives the same run.
        "cache": {"enabled": False},
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    }
    # Checkout answers its documented 501 while no payment provider is configured (every deployment
    # today, README "Plans, keys and billing"): a deliberate answer, not a server error. Only there.
    checkout = {**checks, "not_a_server_error": {"enabled": True, "expected-statuses": [
        *NOT_A_SERVER_ERROR_ACCEPTED, "501"]}}
    data["operations"] = [{"include-path": "/v1/billing/checkout", "include-method": "POST", "checks": checkout}]
    if max_time is not None:
        data["max-time"] = max_time
    return schemathesis.Config.from_dict(data)


def _server_issued_cursors_only(context, case):
    """`cursor` is an opaque token the server issues (`next_cursor`): any string matches its schema,
    but only an issued one makes a valid request, and a made-up one is rightly a 400. So generated
    cursors are dropped (in every phase); the first page is fuzzed with every other parameter."""
    if case.operation.label == "GET /v1/items" and case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case


def _numbered_pages_within_depth(context, case):
    """`page` x `pageSize` of GET /api/items is capped (catalogue.service.MAX_NUMBERED, a 400 past it,
    stated in the parameter's description): a bound across two parameters that no static schema states.
    A generated page past it is brought to the deepest allowed; every other is fuzzed as drawn."""
    if case.operation.label == "GET /api/items" and case.query:
        from recengine.catalogue.service import MAX_NUMBERED

        try:
            size = int(case.query.get("pageSize", 20))
            page = int(case.query.get("page", 1))
        except (TypeError, ValueError):
            return case
        if size > 0 and page * size > MAX_NUMBERED:
            case.query = {**case.query, "page": max(1, MAX_NUMBERED // size)}
    return case


def _decisioning_session_ids(context, case):
    """/api/v1/recommend answers a request that names a `customerId` in the offer-decisioning dialect,
    whose `sessionId` must be alphanumeric (dashes allowed) and at most 64 characters, else 400: a rule
    of that dialect, which the path's shared schema cannot state. Such a generated sessionId is replaced."""
    if case.operation.path == "/api/v1/recommend":
        from recengine.ranking.presenters import SESSION_ID

        for fields in (case.body, case.query):
            if isinstance(fields, dict) and "customerId" in fields:
                for name in ("sessionId", "session_id"):
                    value = fields.get(name)
                    if value is not None and not (isinstance(value, str) and SESSION_ID.fullmatch(value)):
                        fields[name] = "fuzz-session-1"
    return case


TENANT: dict[str, str] = {}  # {"id": the stack's demo tenant}, set by run(): what X-Tenant-Id must name


def _decisioning_tenant_header(context, case):
    """The offer-decisioning dialect of /api/v1/recommend (a `customerId` request) needs an `X-Tenant-Id`
    naming the key's tenant, else 401 (its seed says so): a header value the document cannot state, as it
    is the deployment's. Such a request gets the stack's tenant, unless the case already sends the header."""
    if case.operation.path == "/api/v1/recommend" and TENANT.get("id"):
        if any(isinstance(fields, dict) and "customerId" in fields for fields in (case.body, case.query)):
            headers = dict(case.headers or {})
            if not any(name.lower() == "x-tenant-id" for name in headers):
                headers["X-Tenant-Id"] = TENANT["id"]
            case.headers = headers
    return case


def _clock_bound_timestamps(context, case):
    """An event's timestamp may be at most 5 minutes past the server's clock: a bound that moves, so no
    static schema states it (the document gives the lower bound and says so in the description; for a
    date-time string only the description can). A generated time past now, or a string before 2000, is
    moved to an hour ago; any other is fuzzed as drawn."""
    if case.operation.method.upper() == "POST" and case.operation.path.endswith("/interactions") \
            and isinstance(case.body, dict):
        from recengine.events.schemas import EARLIEST_TS

        events = case.body.get("interactions") if isinstance(case.body.get("interactions"), list) else [case.body]
        horizon = time.time() + 60
        for event in events:
            stamp = event.get("timestamp") if isinstance(event, dict) else None
            if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and stamp > horizon:
                event["timestamp"] = time.time() - 3600
            elif isinstance(stamp, str):
                try:
                    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                    # a date-time string's lower bound (2000-01-01, EARLIEST_TS) is in the description only
                    late = moment > horizon or moment < EARLIEST_TS
                except (ValueError, OverflowError, OSError):
                    continue  # not a date-time the document allows either way: fuzzed as drawn
                if late:
                    event["timestamp"] = datetime.fromtimestamp(time.time() - 3600, timezone.utc).isoformat()
    return case


def _unique_placements(context, case):
    """`placements` must have distinct `placement_id`s (each names a slot of the answer): JSON Schema
    cannot say "unique by a property" (`uniqueItems` compares whole objects), so a generated repeat
    is dropped; the field's description states the rule."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("placements"), list):
        seen, kept = set(), []
        for placement in body["placements"]:
            key = placement.get("placement_id") if isinstance(placement, dict) else None
            if not isinstance(key, str):  # no id, or an id of another type: fuzzed as drawn
                kept.append(placement)
            elif key not in seen:
                kept.append(placement)
                seen.add(key)
        body["placements"] = kept
    return case


def _nested_context_within_bounds(context, case):
    """A nested context is bounded across its levels (recengine.http.schemas.NestedContext: keys in all,
    the flattened leaves, each dotted name's length, the size, a dotted key given twice), which the
    description states and no JSON Schema keyword can. A generated context past one of them keeps its
    flat keys only (the nested objects are dropped); any other is fuzzed as drawn."""
    from recengine.http.schemas import (MAX_CONTEXT_KEYS, MAX_NESTED_CONTEXT_BYTES, MAX_NESTED_CONTEXT_KEYS)

    def within(value: dict) -> bool:
        leaves, keys, stack = set(), 0, [("", value)]
        while stack:
            prefix, node = stack.pop()
            for key, item in node.items():
                keys += 1
                name = f"{prefix}{key}"
                if isinstance(item, dict):
                    stack.append((name + ".", item))
                elif name in leaves or len(name) > 64:
                    return False
                else:
                    leaves.add(name)
        return keys <= MAX_NESTED_CONTEXT_KEYS and len(leaves) <= MAX_CONTEXT_KEYS and \
            len(json.dumps(value, ensure_ascii=False).encode()) <= MAX_NESTED_CONTEXT_BYTES

    body = case.body
    holders = (body.get("interactions") if isinstance(body.get("interactions"), list) else [body]) \
        if isinstance(body, dict) else []
    for holder in holders:
        value = holder.get("context") if isinstance(holder, dict) else None
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()) and not within(value):
            holder["context"] = {k: v for k, v in value.items() if not isinstance(v, dict)}
    return case


def _offers_within_bounds(context, case):
    """An item's decisioning fields have bounds across fields (catalogue.schemas.OfferFieldsIn: `end_at`
    after `start_at`, creative ids unique within the offer, each creative at most MAX_CREATIVE_BYTES
    as JSON), stated in the descriptions, not in JSON Schema; and a date-time must be one Python's
    datetime holds in UTC (years 1 to 9999). A generated item past them loses the field at fault."""
    if case.operation.label != "POST /v1/items" or not isinstance(case.body, dict) \
            or not isinstance(case.body.get("items"), list):
        return case
    from recengine.catalogue.schemas import MAX_CREATIVE_BYTES

    def moment(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
            return parsed.astimezone(timezone.utc) if parsed and parsed.tzinfo else parsed
        except (ValueError, OverflowError):
            return "unreadable"

    for item in case.body["items"]:
        offer = item.get("offer") if isinstance(item, dict) else None
        if not isinstance(offer, dict):
            continue
        for name in ("start_at", "end_at"):
            if moment(offer.get(name)) == "unreadable":
                offer.pop(name)
        start, end = moment(offer.get("start_at")), moment(offer.get("end_at"))
        if start is not None and end is not None:
            try:
                if end <= start:
                    offer.pop("end_at")
            except TypeError:  # one naive, one aware: the server reads a naive one as UTC
                offer.pop("end_at")
        if isinstance(offer.get("creatives"), list):
            seen, kept = set(), []
            for creative in offer["creatives"]:
                if isinstance(creative, dict) and isinstance(creative.get("id"), str):
                    if creative["id"] in seen or len(json.dumps(creative).encode()) > MAX_CREATIVE_BYTES:
                        continue
                    seen.add(creative["id"])
                kept.append(creative)
            offer["creatives"] = kept
    return case


def _map_case(context, case):
    """Every stated runner rule, in turn (schemathesis keeps one map_case hook per schema)."""
    for rule in (_server_issued_cursors_only, _numbered_pages_within_depth, _decisioning_session_ids,
                 _decisioning_tenant_header, _clock_bound_timestamps, _unique_placements, _nested_context_within_bounds,
                 _offers_within_bounds):
        case = rule(context, case)
    return case


def _replayable(curl: str, api_key: str) -> str:
    """The curl line with the key as `$API_KEY` (double quotes, so the shell expands it)."""
    curl = curl.replace(api_key, "$API_KEY")
    for header in ("x-api-key: $API_KEY", "Authorization: Bearer $API_KEY"):
        curl = curl.replace(f"'{header}'", f'"{header}"')
    return curl


def _answer(recorder, case_id: str) -> tuple[int | None, str]:
    response = recorder.find_response(case_id=case_id)
    if response is None:
        return None, ""
    return response.status_code, response.content.decode("utf-8", "replace")[:2000]


def run(base_url: str, api_key: str, *, seed: int = SEED, max_examples: int = 10,
        phases: tuple[str, ...] = CI_PHASES, workers: int = 1, max_time: int | None = None,
        continue_on_failure: bool = False,
        document: Path = DOCUMENT, progress=None, portal_token: str | None = None,
        tenant_id: str | None = None) -> FuzzReport:
    """Runs schemathesis' engine over every operation of the document and collects the report."""
    TENANT.clear()
    if tenant_id:
        TENANT["id"] = tenant_id
    import schemathesis
    from schemathesis.engine import from_schema
    from schemathesis.engine import events

    schema = schemathesis.openapi.from_dict(json.loads(document.read_text()),
                                            config=config(base_url, api_key, seed=seed, max_examples=max_examples,
                                                          phases=phases, workers=workers, max_time=max_time,
                                                          continue_on_failure=continue_on_failure,
                                                          portal_token=portal_token))
    schema.hook("map_case")(_map_case)
    report = FuzzReport()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                label = recorder.cases[case_id].value.operation.label if case_id in recorder.cases else recorder.label
                report.requests += 1
                report.per_operation[label] += 1
                if interaction.response is not None:
                    report.statuses.setdefault(label, Counter())[interaction.response.status_code] += 1
            for case_id, checks in recorder.checks.items():
                for node in checks:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    status, answer = _answer(recorder, failure.case_id or case_id)
                    report.failures.append(Failure(
                        operation=failure.operation or recorder.label, check=node.name, title=failure.title,
                        message=failure.message, status=status, answer=answer,
                        curl=_replayable(node.failure_info.code_sample, api_key)))
            if progress is not None:
                progress(f"{getattr(event, 'phase', 'fuzz')} {recorder.label}: {len(recorder.interactions)} requests, "
                         f"{report.requests} in all")
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason)
    report.elapsed_s = time.monotonic() - started
    return report


def format_report(report: FuzzReport) -> str:
    lines = [f"schemathesis over {DOCUMENT.relative_to(ROOT)}: {report.requests} requests in "
             f"{report.elapsed_s:.0f} s ({report.stop_reason}); checks: {', '.join(CHECKS)}", "",
             "requests per operation (statuses):"]
    for label, count in sorted(report.per_operation.items()):
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(report.statuses.get(label, Counter()).items()))
        lines.append(f"  {count:6d}  {label}  ({statuses})")
    groups = report.unique_failures()
    by_check = Counter(check for check, _, _ in groups)
    lines += ["", f"failures: {len(report.failures)} ({len(groups)} distinct)"
              + "".join(f"; {check}: {n}" for check, n in sorted(by_check.items()))]
    for (check, operation, why), found in sorted(groups.items()):
        first = found[0]
        lines += ["", f"[{check}] {operation}: {first.title}: {why} ({len(found)}×)",
                  *("    " + line for line in first.message.strip().splitlines()[:12]),
                  f"  answer: {first.answer[:600]}",
                  "  reproduce:", *("    " + line for line in first.curl.strip().splitlines())]
    if report.errors:
        lines += ["", f"errors ({len(report.errors)}):", *(f"  {e}" for e in report.errors[:40])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="a running local stack (else one is started)")
    parser.add_argument("--api-key", help="its admin key (with --base-url)")
    parser.add_argument("--tenant-id", help="its tenant (with --base-url): the decisioning dialect's X-Tenant-Id")
    parser.add_argument("--examples", type=int, default=50, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--max-time", type=int, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    phases = tuple(p for p in args.phases.split(",") if p)

    def campaign(base_url: str, key: str, token: str | None = None, tenant: str | None = None) -> FuzzReport:
        return run(base_url, key, seed=args.seed, max_examples=args.examples, phases=phases, max_time=args.max_time,
                   continue_on_failure=True, portal_token=token, tenant_id=tenant,
                   progress=lambda line: print(f"[fuzz] {line}", file=sys.stderr, flush=True))

    if args.base_url:
        if not args.api_key:
            parser.error("--base-url needs --api-key (the admin key the stack printed)")
        report = campaign(args.base_url, args.api_key, tenant=args.tenant_id)
    else:
        from local.spawn import running_stack

        with running_stack(drain=True) as stack:
            banner = re.search(r"^\s*tenant\s*:\s*(\S+)", stack.output, re.MULTILINE)
            report = campaign(stack.base_url, stack.admin_key, portal_token(stack.base_url, stack.output),
                              banner.group(1) if banner else None)
    print(format_report(report))
    return 1 if report.failures or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
