"""The request path per route (issue #13's measuring step): how many AWS calls a request makes, how
many of them are sequential round trips, and how much of its time is the handler's own compute.

    PYTHONPATH=layers/engine:. .venv/bin/python -m bench.request_path [--requests N] [--out FILE]

moto runs in-process with the template's tables, bucket, queues and secrets; a small shop (catalogue and
history sent through the handlers, a live model trained with the default parameters) is served by the
REAL handlers. botocore's `BaseClient._make_api_call` is wrapped so that every AWS call a request makes
is timed: calls whose intervals overlap are one round trip (they were in flight together), the union
of the intervals is the time spent inside AWS (moto here), and compute = wall time - that union. In a
region a round trip costs several ms and the gateway about 10 ms, hence the modelled latency
compute + round trips x 6 ms + 10 ms: it is what the user waits for, and what #13's changes are judged by.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
ROUND_TRIP_MS = 6.0  # one in-region DynamoDB/S3 round trip
GATEWAY_MS = 10.0  # API Gateway + Lambda invoke overhead
GOAL_P50_MS, GOAL_P99_MS = 25.0, 60.0  # recommend's modelled latency
MAX_ROUND_TRIPS = {"recommend": 2, "similar": 1, "interactions": 2}  # per route family (#13)
BASE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_SERVICE_NAME": "recengine-bench", "POWERTOOLS_METRICS_NAMESPACE": "recengine-bench",
            "POWERTOOLS_METRICS_DISABLED": "true"}
PSEUDONYM_KEY = "bench-pseudonym-key-0123456789abcdef"


# ------------------------------------------------------------------ the call timeline
Interval = tuple[float, float]


def merged(intervals: list[Interval]) -> list[Interval]:
    """Overlapping (or nested) intervals merged: each group was in flight together, one round trip."""
    out: list[list[float]] = []
    for start, end in sorted(intervals):
        if out and start < out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def round_trips(intervals: list[Interval]) -> int:
    """Sequential round trips: the number of merged groups on the call timeline (0 without calls).
    Calls that touch end-to-start are sequential (the second waited for the first)."""
    return len(merged(intervals))


def time_in_calls(intervals: list[Interval]) -> float:
    """The time spent waiting on AWS: the union of the call intervals (overlaps counted once)."""
    return sum(e - s for s, e in merged(intervals))


@dataclass
class Call:
    service: str
    operation: str
    start: float
    end: float
    target: str = ""  # the table (or bucket) addressed: tells apart two calls of one operation


@dataclass
class Recorder:
    """Every botocore call made while recording, from any thread (the code may issue calls concurrently)."""

    calls: list[Call] = field(default_factory=list)
    active: bool = False
    in_flight: int = 0  # calls of the window started and not yet answered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self) -> list[Call] | None:
        """The window's list if recording (a call belongs to the window it started in), else None."""
        with self.lock:
            if not self.active:
                return None
            self.in_flight += 1
            return self.calls

    def record(self, sink: list[Call], call: Call) -> None:
        with self.lock:
            sink.append(call)
            if sink is self.calls:
                self.in_flight -= 1

    @contextmanager
    def window(self) -> Iterator[list[Call]]:
        """Records the calls made inside the block into the yielded list."""
        with self.lock:
            self.calls, self.active, self.in_flight = [], True, 0
        seen = self.calls
        try:
            yield seen
        finally:
            with self.lock:
                self.active = False


def addressed(params: dict) -> str:
    """The tables (or bucket) a call addresses, batches and transactions included."""
    tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems") or {})
    for action in params.get("TransactItems") or []:
        tables += [op["TableName"] for op in action.values() if isinstance(op, dict) and "TableName" in op]
    return ",".join(dict.fromkeys(tables)) or str(params.get("Bucket") or "")


@contextmanager
def instrumented(recorder: Recorder, latency_s: float = 0.0) -> Iterator[None]:
    """Wraps every botocore client's API call (the runtime's clients included, however built) with a
    timer; the wrapper runs in the calling thread, so calls issued from a pool are timed as issued.
    `latency_s`: each call first waits that long (a network round trip, GIL released), so that calls
    issued together overlap as in a region; in-process moto answers in about a millisecond, often
    before a pool's next thread has issued its call."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def timed(self: Any, operation_name: str, api_params: dict) -> Any:
        sink = recorder.started()
        start = time.perf_counter()
        try:
            if latency_s:
                time.sleep(latency_s)
            return original(self, operation_name, api_params)
        finally:
            if sink is not None:
                target = addressed(api_params)
                recorder.record(sink, Call(self.meta.service_model.service_name, operation_name, start,
                                           time.perf_counter(), target))

    BaseClient._make_api_call = timed
    try:
        yield
    finally:
        BaseClient._make_api_call = original


# ------------------------------------------------------------------ one measured request
@dataclass
class Sample:
    status: int
    wall_ms: float
    aws_ms: float
    calls: int
    round_trips: int
    operations: list[str]
    in_flight_after: int = 0  # calls still unanswered when the handler returned (off the critical path)

    @property
    def compute_ms(self) -> float:
        return max(0.0, self.wall_ms - self.aws_ms)

    @property
    def modelled_ms(self) -> float:
        return self.compute_ms + self.round_trips * ROUND_TRIP_MS + GATEWAY_MS


def measure(recorder: Recorder, send: Callable[[], int]) -> Sample:
    """One request through its handler, with the AWS calls it made before answering. Calls it left in
    flight are not on the user's wait, but are counted apart so that work moved off the critical path
    stays visible."""
    with recorder.window() as calls:
        start = time.perf_counter()
        status = send()
        wall = time.perf_counter() - start
        calls = list(calls)
        in_flight = recorder.in_flight
    intervals = [(c.start, c.end) for c in calls]
    return Sample(status, wall * 1000, time_in_calls(intervals) * 1000, len(calls), round_trips(intervals),
                  [f"{c.service}.{c.operation} {c.target}".strip() for c in sorted(calls, key=lambda c: c.start)],
                  in_flight)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): an observed value, as latency reports give."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise(route: str, samples: list[Sample]) -> dict:
    """The route's row: calls and round trips (median, max), compute and modelled latency p50/p99."""
    compute = [s.compute_ms for s in samples]
    modelled = [s.modelled_ms for s in samples]
    trips = [s.round_trips for s in samples]
    family = route.split(" ")[0]
    limit = MAX_ROUND_TRIPS[family]
    row = {"route": route, "requests": len(samples), "errors": sum(1 for s in samples if s.status >= 400),
           "aws_calls_median": statistics.median(s.calls for s in samples),
           "round_trips_median": statistics.median(trips), "round_trips_max": max(trips),
           "calls_in_flight_after_answer_max": max(s.in_flight_after for s in samples),
           "compute_p50_ms": percentile(compute, 50), "compute_p99_ms": percentile(compute, 99),
           "modelled_p50_ms": percentile(modelled, 50), "modelled_p99_ms": percentile(modelled, 99),
           "round_trip_goal": limit, "operations_example": samples[-1].operations,
           "operations_most_round_trips": max(samples, key=lambda s: s.round_trips).operations}
    ok = row["round_trips_max"] <= limit and row["errors"] == 0
    if family == "recommend":
        ok = ok and row["modelled_p50_ms"] <= GOAL_P50_MS and row["modelled_p99_ms"] <= GOAL_P99_MS
    row["verdict"] = "PASS" if ok else "MISS"
    return row


def table(rows: list[dict]) -> str:
    """The Markdown table the README and the issue quote."""
    lines = ["| route | AWS calls (median) | round trips (median / max) | compute p50 / p99 ms "
             "| modelled p50 / p99 ms | goal | |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        family = r["route"].split(" ")[0]
        latency = f", ≤ {GOAL_P50_MS:g} / {GOAL_P99_MS:g} ms" if family == "recommend" else ""
        goal = f"≤ {r['round_trip_goal']} RT{latency}"
        errors = f" ({r['errors']} errors)" if r["errors"] else ""
        lines.append(f"| {r['route']} | {r['aws_calls_median']:g} | {r['round_trips_median']:g} / "
                     f"{r['round_trips_max']} | {r['compute_p50_ms']:.1f} / {r['compute_p99_ms']:.1f} "
                     f"| {r['modelled_p50_ms']:.1f} / {r['modelled_p99_ms']:.1f} | {goal} | {r['verdict']}{errors} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ the shop and the routes
@dataclass
class Shop:
    tenant_id: str
    api_key_id: str
    users: list[str]
    sessions: dict[str, str]
    items: list[str]


def event(method: str, path: str, key_id: str, body: Any) -> dict:
    """A REST proxy event for the route as API Gateway hands it on after the key authorizer (admin role)."""
    from local.gateway import proxy_event
    from local.template import routes, stage_name

    route = next(r for r in routes() if (r.method, r.path) == (method, path))
    raw = json.dumps(body).encode()
    return proxy_event(route, method, path, {"Accept": "application/json", "Content-Type": "application/json",
                                             "User-Agent": "bench"}, [], raw, {}, "bench-key-value", key_id,
                       "203.0.113.10", stage_name(), {"role": "admin", "principalId": "api-key",
                                                      "integrationLatency": 0})


def prepared(method: str, path: str, key_id: str, body: Any) -> Callable[[], dict]:
    """The route's real handler, loaded as the local gateway loads it, with its event and context built:
    calling it is what the Lambda does. Building the event is API Gateway's work and reading the answer
    the client's, both outside the modelled compute (the gateway's share is the fixed overhead)."""
    from local.gateway import LambdaContext, load_handler
    from local.template import routes

    route = next(r for r in routes() if (r.method, r.path) == (method, path))
    handler, request, context = load_handler(route), event(method, path, key_id, body), LambdaContext(route.function)
    return lambda: handler(request, context)


def parsed(result: dict) -> tuple[int, Any]:
    text = result.get("body") or ""
    try:
        return result["statusCode"], json.loads(text) if text else {}
    except ValueError:
        return result["statusCode"], text


def send(method: str, path: str, key_id: str, body: Any) -> tuple[int, Any]:
    """(status, parsed body) through the route's real handler."""
    return parsed(prepared(method, path, key_id, body)())


def build_shop(users: int, items: int, events_per_user: int, seed: int = 13) -> Shop:
    """Resources as the tests' `aws` fixture makes them, a growth tenant, its catalogue and history
    through the handlers, and a live model trained with the default parameters (no tuning)."""
    from local.demo import generate
    from local.provision import create_api, create_resources, create_tenant
    from recengine.engine.params import TrainParams
    from recengine.models.training import train_tenant
    from recengine.runtime import runtime

    env = create_resources("bench", {"PseudonymSecret": PSEUDONYM_KEY})
    os.environ.update(env)
    _, plan_ids = create_api("bench")
    tenant, _value, key_id = create_tenant(env["TENANTS_TABLE"], "shop", "growth", plan_ids)
    data = generate(n_users=users, n_items=items, events_per_user=events_per_user, seed=seed)
    for start in range(0, len(data.items), 500):
        status, body = send("POST", "/v1/items", key_id, {"items": data.items[start:start + 500]})
        assert status == 200, body
    for start in range(0, len(data.interactions), 500):
        status, body = send("POST", "/v1/interactions", key_id, {"interactions": data.interactions[start:start + 500]})
        assert status in (200, 201), body
    record = train_tenant(runtime().training, tenant.tenant_id, force=True, params=TrainParams())
    if record is None:
        raise SystemExit("training registered no model")
    decision_flows(key_id)
    sessions = {e["user_id"]: e["session_id"] for e in data.interactions}
    return Shop(tenant.tenant_id, key_id, sorted(sessions), sessions, [i["id"] for i in data.items])


def decision_flows(key_id: str) -> None:
    """The email channel's decisioning: a qualification rule, two contact policies, two flows and an
    experiment between them (other channels have no route, so the other shapes are ranked as before)."""
    def made(path: str, body: dict, method: str = "POST") -> dict:
        status, answer = send(method, path, key_id, body)
        assert status in (200, 201), answer
        return answer

    rule = made("/v1/decisioning/rules", {"name": "no games for minors", "effect": "exclude",
                                           "target": {"categories": ["games"]},
                                           "conditions": [{"field": "segments", "op": "in", "value": ["minor"]}]})
    cap = made("/v1/decisioning/policies", {"name": "3 a day", "kind": "frequency_cap", "max_impressions": 3,
                                             "window_hours": 24})
    cool = made("/v1/decisioning/policies", {"name": "after a purchase", "kind": "cooldown",
                                              "outcome_type": "purchase", "hours": 48})
    for key, ranker in (("email-model", "model"), ("email-nba", "propensity_value")):
        made("/v1/decisioning/flows", {"key": key, "name": key, "ranker": ranker, "rule_ids": [rule["rule_id"]],
                                        "policy_ids": [cap["policy_id"], cool["policy_id"]], "max_per_category": 2})
    made("/v1/decisioning/routing", {"routes": [{"flow_key": "email-model", "channel": "email"}]}, "PUT")
    made("/v1/experiments", {"name": "model vs nba", "channel": "email",
                             "variants": {"model": {"weight": 1, "flow_key": "email-model"},
                                          "nba": {"weight": 1, "flow_key": "email-nba"}}})


def routes_of(shop: Shop) -> dict[str, tuple[str, Callable[[int], Any]]]:
    """Each route shape #13 names: (path, request body for the i-th request). Users and items cycle, so
    caches keyed by user are exercised as a stream of distinct callers would."""
    users, items = shop.users, shop.items
    now = time.time()

    def user(i: int) -> str:
        return users[(i * 7) % len(users)]

    def interaction(i: int, j: int = 0) -> dict:
        u = user(i + j)
        return {"user_id": u, "session_id": shop.sessions[u], "item_id": items[(i * 31 + j * 17) % len(items)],
                "type": "view", "timestamp": now - 60 - j * 0.001, "event_id": f"bench-{uuid.uuid4().hex}"}

    placements = [{"placement_id": "hero", "limit": 3}, {"placement_id": "sidebar", "limit": 4}]
    rules = [{"field": "price", "op": "lte", "value_from": "attributes.budget"},
             {"field": "category", "op": "eq", "value": "games", "when": {"segments": ["gamers"]}}]
    return {
        "recommend (user)": ("/v1/recommend", lambda i: {"user_id": user(i), "limit": 10}),
        "recommend (user + session + context)": ("/v1/recommend", lambda i: {
            "user_id": user(i), "session_id": shop.sessions[user(i)], "limit": 10,
            "context": {"device_type": "mobile", "user_region": "US-CA"}}),
        "recommend (2 placements)": ("/v1/recommend", lambda i: {"user_id": user(i), "placements": placements}),
        "recommend (rules + frequency cap)": ("/v1/recommend", lambda i: {
            "user_id": user(i), "limit": 5, "surface": "home", "rules": rules, "attributes": {"budget": 150},
            "frequency_cap": {"max_impressions": 3, "window_hours": 24}}),
        "recommend (decision flow + experiment)": ("/v1/recommend", lambda i: {
            "user_id": user(i), "channel": "email", "placement": "hero_banner", "limit": 5, "segments": ["minor"],
            "attributes": {"propensityScores": {"books": 0.4, "games": 0.9}}}),
        "similar": ("/v1/similar", lambda i: {"item_id": items[(i * 13) % len(items)], "limit": 10}),
        "interactions (1 event)": ("/v1/interactions", lambda i: {"interactions": [interaction(i)]}),
        "interactions (500 events)": ("/v1/interactions", lambda i: {"interactions": [interaction(i, j)
                                                                                     for j in range(500)]}),
    }


@contextmanager
def scoped_env(values: dict[str, str | None]) -> Iterator[None]:
    """Sets (None: removes) environment variables for the block and puts every variable back after it,
    those the shop's resources add included: a run inside a test process leaves nothing behind."""
    saved = dict(os.environ)
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bench_env(cache_dir: str) -> dict[str, str | None]:
    """Fake credentials and no endpoint or profile (nothing can reach real AWS), quiet logs and metrics."""
    cleared: dict[str, str | None] = {var: None for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN",
                                                             "TRAIN_LAUNCH", "BATCH_DISPATCH", "PSEUDONYM_SECRET_ID")}
    return {**cleared, **BASE_ENV, "MODEL_CACHE_DIR": cache_dir}


def run(requests: int, heavy_requests: int, users: int, items: int, events_per_user: int,
        warmup: int = 3, only: list[str] | None = None, latency_s: float = 0.0) -> list[dict]:
    """Builds the shop, starts a fresh runtime (a new execution environment), warms each route (the
    first call loads the model and the tenant), then measures `requests` per cheap route and
    `heavy_requests` for the 500-event batch."""
    with tempfile.TemporaryDirectory(prefix="bench-model-cache-") as cache, scoped_env(bench_env(cache)):
        return _run(requests, heavy_requests, users, items, events_per_user, warmup, only or [], latency_s)


def _run(requests: int, heavy_requests: int, users: int, items: int, events_per_user: int,
         warmup: int, only: list[str], latency_s: float = 0.0) -> list[dict]:
    from moto import mock_aws

    from local.moto_atomic import atomic_item_writes, item_scoped_rollback, partition_scoped_queries
    from recengine.aws.clients import reset_clients
    from recengine.runtime import reset_runtime

    recorder = Recorder()
    rows: list[dict] = []
    # as `make run`'s stack: each write atomic under concurrent calls, transactions O(1) in table size
    with mock_aws(), item_scoped_rollback(), atomic_item_writes(), partition_scoped_queries():
        reset_clients()
        reset_runtime()
        shop = build_shop(users, items, events_per_user)
        reset_runtime()
        with instrumented(recorder, latency_s):
            for route, (path, body) in routes_of(shop).items():
                if only and not any(word in route for word in only):
                    continue
                n = heavy_requests if "500" in route else requests
                for i in range(1 if "500" in route else warmup):
                    status, answer = send("POST", path, shop.api_key_id, body(10_000 + i))
                    if status >= 400:
                        raise SystemExit(f"{route}: warm-up answered {status}: {answer}")
                    if route == "recommend (user)" and not (answer["items"] and answer["meta"]["model_id"]):
                        raise SystemExit(f"{route}: not served by the trained model: {answer['meta']}")
                failures: list[dict] = []

                samples = []
                for i in range(n):
                    invoke, answered = prepared("POST", path, shop.api_key_id, body(i)), []
                    samples.append(measure(recorder, lambda: answered.append(invoke()) or answered[0]["statusCode"]))
                    status, answer = parsed(answered[0])
                    if status >= 400 and len(failures) < 3:
                        failures.append({"status": status, "type": answer.get("type"), "detail": answer.get("detail")})
                rows.append({**summarise(route, samples), "error_examples": failures})
                print(f"measured {route}: {n} requests", file=sys.stderr)
        reset_runtime()
        reset_clients()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests per cheap route")
    parser.add_argument("--heavy-requests", type=int, default=None,
                        help="measured 500-event batches (default: requests / 10, at least 3)")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--events-per-user", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    parser.add_argument("--only", nargs="*", default=None, help="measure only the routes whose name contains one "
                        "of these words (e.g. --only recommend similar)")
    parser.add_argument("--call-latency-ms", type=float, default=ROUND_TRIP_MS,
                        help="hold each AWS call this long (GIL released), so that calls issued together overlap "
                        "as in a region; in-process moto answers in about 1 ms, often before a pool thread has "
                        "issued its call. The hold is time inside the call, never compute (default: one round trip)")
    args = parser.parse_args(argv)
    heavy = args.heavy_requests if args.heavy_requests is not None else max(3, args.requests // 10)
    started = time.perf_counter()
    rows = run(args.requests, heavy, args.users, args.items, args.events_per_user, only=args.only,
               latency_s=args.call_latency_ms / 1000)
    print(table(rows))
    for r in rows:
        for failure in r.get("error_examples") or ():
            print(f"{r['route']}: answered {failure['status']} {failure['type']}: {failure['detail']}")
        if r["calls_in_flight_after_answer_max"]:
            print(f"{r['route']}: up to {r['calls_in_flight_after_answer_max']} AWS calls still in flight after the "
                  "answer (off the critical path, not counted above)")
    recommend = [r for r in rows if r["route"].startswith("recommend")]
    worst50 = max((r["modelled_p50_ms"] for r in recommend), default=0.0)
    worst99 = max((r["modelled_p99_ms"] for r in recommend), default=0.0)
    verdict = "PASS" if all(r["verdict"] == "PASS" for r in recommend) else "MISS"
    print(f"\nGoal (recommend): modelled p50 ≤ {GOAL_P50_MS:g} ms, p99 ≤ {GOAL_P99_MS:g} ms, ≤ 2 round trips; "
          f"similar ≤ 1, interactions ≤ 2. Recommend worst shape: p50 {worst50:.1f} ms, p99 {worst99:.1f} ms "
          f"-> {verdict}. Modelled = compute + round trips × {ROUND_TRIP_MS:g} ms + {GATEWAY_MS:g} ms.")
    print(f"({args.users} users, {args.items} items, moto in-process, {time.perf_counter() - started:.0f} s)")
    if args.out:
        args.out.write_text(json.dumps({"round_trip_ms": ROUND_TRIP_MS, "gateway_ms": GATEWAY_MS,
                                        "users": args.users, "items": args.items, "routes": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
