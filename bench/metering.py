"""Metering overhead per call: the recommend handler with and without metering, and the metering
UpdateItem alone, against a moto server started in-process (as `make run` does). Prints p50/p95 in
ms. Not part of the test suite.

    .venv/bin/python bench/metering.py [--calls 300]

moto over local HTTP stands in for DynamoDB, so the absolute figures are moto's, not AWS's (a
DynamoDB UpdateItem from Lambda in-region is typically single-digit ms); the difference between
the two handler runs is what metering adds on top of the same request path."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "engine")]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    from local.moto_atomic import item_scoped_rollback

    patches = contextlib.ExitStack()  # the meter's transactions would slow moto down call after call (moto_atomic.py)
    patches.enter_context(item_scoped_rollback())
    cache = tempfile.mkdtemp(prefix="recengine-bench-")
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "MODEL_CACHE_DIR": cache,
                       "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_SERVICE_NAME": "recengine-bench",
                       "POWERTOOLS_METRICS_DISABLED": "true"})  # the pseudonym key: a secret create_resources makes
    try:
        from local import demo, provision
        from local.gateway import LambdaContext, load_handler, proxy_event
        from local.template import routes, stage_name
        from recengine.billing import metering, service as billing
        from recengine.catalogue.schemas import ItemIn
        from recengine.catalogue.service import upsert_items
        from recengine.events.schemas import InteractionIn
        from recengine.events.service import record_interactions
        from recengine.models.training import train_tenant
        from recengine.ranking import service as module  # where recommend meters its calls
        from recengine.runtime import runtime

        os.environ.update(provision.create_resources("bench"))
        _, plan_ids = provision.create_api("bench")
        c = runtime()
        tenant, _, key_id = provision.create_tenant(c.settings.tenants_table, "Bench", "enterprise", plan_ids)
        data = demo.generate(n_users=120, n_items=200, events_per_user=20)
        upsert_items(c.items, tenant.tenant_id, [ItemIn.model_validate(i).draft() for i in data.items])
        events = [InteractionIn.model_validate(e).to_event() for e in data.interactions]
        for start in range(0, len(events), 500):
            record_interactions(c.interactions, c.seen_users, c.pseudonyms, tenant.tenant_id, events[start:start + 500])
        train_tenant(c.training, tenant.tenant_id)

        route = next(r for r in routes() if r.path == "/v1/recommend")
        handler = load_handler(route)
        real_metered = module.metered
        users = list(data.user_tastes)

        def call(n: int) -> float:
            body = json.dumps({"user_id": users[n % len(users)], "limit": 10}).encode()
            event = proxy_event(route, "POST", "/v1/recommend", {"Content-Type": "application/json"}, [], body, {},
                                "bench-key", key_id, "127.0.0.1", stage_name(), {"role": "read"})
            started = time.perf_counter()
            out = handler(event, LambdaContext(route.function))
            elapsed = (time.perf_counter() - started) * 1000
            assert out["statusCode"] == 200, out["body"]
            return elapsed

        for n in range(args.warmup):
            call(n)
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for n in range(args.calls):  # alternate, so drift in moto or the cache hits both variants alike
            module.metered = lambda *args, **kwargs: contextlib.nullcontext()
            timings["without"].append(call(n))
            module.metered = real_metered
            timings["with"].append(call(n))
        module.metered = real_metered

        alone = []
        for _ in range(args.calls):
            started = time.perf_counter()
            metering.meter_call(c.usage, tenant, f"bench-alone-{len(alone)}")
            alone.append((time.perf_counter() - started) * 1000)

        counted = billing.usage_report(c.usage, tenant)["requests_used"]
        (p50_off, p95_off), (p50_on, p95_on) = percentiles(timings["without"]), percentiles(timings["with"])
        p50_alone, p95_alone = percentiles(alone)
        deltas = [a - b for a, b in zip(timings["with"], timings["without"])]
        print(f"recommend handler, {args.calls} calls per variant (moto server over local HTTP, in-process handler)")
        print(f"  {'variant':<28} {'p50 ms':>8} {'p95 ms':>8}")
        print(f"  {'without metering':<28} {p50_off:8.2f} {p95_off:8.2f}")
        print(f"  {'with metering':<28} {p50_on:8.2f} {p95_on:8.2f}")
        print(f"  {'overhead (paired delta)':<28} {statistics.median(deltas):8.2f} {percentiles(deltas)[1]:8.2f}")
        print(f"  {'meter_call alone':<28} {p50_alone:8.2f} {p95_alone:8.2f}")
        print(f"counted {counted} metered calls (expected {args.warmup + 2 * args.calls})")
        return 0 if counted == args.warmup + 2 * args.calls else 1
    finally:
        patches.close()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
