"""Throughput of the usage meter for ONE tenant: N threads make metered calls (billing.metering.
meter_call, as recommend, similar and interactions do) for a fixed time against moto in-process;
prints calls/s, latency and outcomes, then checks that the usage report counts exactly the calls
that were served. Not part of the test suite.

    PYTHONPATH=layers/engine:. .venv/bin/python -m bench.meter_throughput [--threads 8] [--seconds 10]
        [--item-wcu 100] [--root ../main]

--root runs the engine of another checkout (read only), e.g. one from before the sharded meter:
the bench calls whichever meter_call signature it finds.

moto has no per-item write limit, and its backend is serialised here (as DynamoDB serialises the
writes to one item), so without --item-wcu the figure is the client's and moto's CPU cost per
metered call on this machine, not DynamoDB's. --item-wcu W gives every item a token bucket of W
write units per second (DynamoDB's is 1,000): a plain write of a small item costs 1, a write in a
transaction 2, and a write past the bucket is throttled as DynamoDB throttles it (botocore retries
it, then the call sees the error). Scaling W down to what moto can reach shows how a design behaves
at the per-item limit: multiply the calls/s by 1,000 / W for DynamoDB's figure."""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent.parent
TABLE = "bench-usage"


@contextmanager
def item_write_limit(wcu: float) -> Iterator[dict[str, int]]:
    """Throttles writes to an item past `wcu` write units a second (a token bucket of one second)."""
    from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    inside = threading.local()  # a transaction's own item writes are charged by the transaction
    buckets: dict[tuple, list[float]] = {}
    throttled = {"writes": 0}

    def take(table: str, key: dict, cost: float) -> bool:
        with lock:
            now = time.monotonic()
            tokens, updated = buckets.get((table, str(sorted(key.items()))), (wcu, now))
            tokens = min(wcu, tokens + (now - updated) * wcu)
            ok = tokens >= cost
            buckets[(table, str(sorted(key.items())))] = [tokens - cost if ok else tokens, now]
            if not ok:
                throttled["writes"] += 1
            return ok

    def refuse() -> Exception:
        return DynamodbException("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                                 "The level of configured provisioned throughput for the table was exceeded")

    def key_of(self: Any, table_name: str, attrs: dict) -> dict:
        table = self.get_table(table_name)
        return {k: attrs[k] for k in (table.hash_key_attr, table.range_key_attr) if k}

    originals = {name: getattr(DynamoDBBackend, name)
                 for name in ("put_item", "update_item", "delete_item", "transact_write_items")}

    def single(name: str) -> Any:
        def call(self: Any, table_name: str, attrs: dict, *args: Any, **kwargs: Any) -> Any:
            if not getattr(inside, "active", False) and not take(table_name, key_of(self, table_name, attrs), 1):
                raise refuse()
            return originals[name](self, table_name, attrs, *args, **kwargs)
        return call

    def transact(self: Any, items: list[dict]) -> Any:
        reasons = []
        for entry in items:
            op_type, op = next(iter(entry.items()))
            attrs = op["Item"] if op_type == "Put" else op["Key"]
            ok = take(op["TableName"], key_of(self, op["TableName"], attrs), 2)
            reasons.append((None, None, None) if ok else ("ThrottlingError", "Throughput exceeds the limit", None))
        if any(code for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        inside.active = True
        try:
            return originals["transact_write_items"](self, items)
        finally:
            inside.active = False

    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, single(name))
    DynamoDBBackend.transact_write_items = transact
    try:
        yield throttled
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the threads keep calling")
    parser.add_argument("--item-wcu", type=float, default=0.0, help="simulated write units/s per item (0: none)")
    parser.add_argument("--plan", default="enterprise")
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose engine is measured")
    args = parser.parse_args(argv)

    engine = (args.root.resolve() / "layers" / "engine")
    if not (engine / "recengine").is_dir():
        parser.error(f"no engine under {engine}")
    sys.path.insert(0, str(engine))
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_SERVICE_NAME": "recengine-bench"})
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from moto import mock_aws

    from local.moto_atomic import atomic_item_writes, item_scoped_rollback

    with mock_aws(), ExitStack() as patches:
        boto3.client("dynamodb").create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"},
                       {"AttributeName": "period", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"},
                                  {"AttributeName": "period", "AttributeType": "S"}])
        patches.enter_context(item_scoped_rollback())
        throttled = patches.enter_context(item_write_limit(args.item_wcu)) if args.item_wcu else {"writes": 0}
        patches.enter_context(atomic_item_writes())

        from recengine.billing import metering, service
        from recengine.billing.store import UsageStore
        from recengine.errors import PaymentRequiredError, StoreError
        from recengine.tenancy.model import Tenant

        usage = UsageStore(TABLE)
        tenant = Tenant("bench-tenant", "Bench", args.plan, time.time())
        takes_request_id = "request_id" in inspect.signature(metering.meter_call).parameters

        def meter() -> Any:
            if takes_request_id:
                return metering.meter_call(usage, tenant, f"bench-{uuid.uuid4()}")
            return metering.meter_call(usage, tenant)

        outcomes = {"served": 0, "deferred": 0, "refused": 0, "failed": 0}
        latencies: list[float] = []
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def work() -> None:
            mine = {k: 0 for k in outcomes}
            times = []
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    ticket = meter()
                    mine["served"] += 1
                    mine["deferred"] += int(bool(getattr(ticket, "deferred", False)))
                except PaymentRequiredError:
                    mine["refused"] += 1
                except StoreError:
                    mine["failed"] += 1  # the route answers 503
                times.append((time.perf_counter() - started) * 1000)
            with lock:
                for k, v in mine.items():
                    outcomes[k] += v
                latencies.extend(times)

        meter()  # the client and the first rows, outside the timing
        outcomes["served"] += 1
        started = time.perf_counter()
        threads = [threading.Thread(target=work) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        counted = service.usage_report(usage, tenant)["requests_used"]

    calls = outcomes["served"] + outcomes["refused"] + outcomes["failed"] - 1
    print(f"meter throughput, one tenant ({args.plan}), engine {engine.parent.parent}")
    design = "sharded, idempotent by request id" if takes_request_id else "one UpdateItem per tenant/month"
    limit = f"simulated per-item limit {args.item_wcu:g} WCU/s" if args.item_wcu else "no per-item limit"
    print(f"  meter: {design}; moto in-process, {args.threads} threads, {elapsed:.1f}s, {limit}")
    print(f"  metered calls/s (answered):  {(outcomes['served'] - 1) / elapsed:8.1f}   "
          f"(attempted {calls / elapsed:.1f}/s)")
    print(f"  latency per call ms:         p50 {statistics.median(latencies) if latencies else 0:.2f}   "
          f"p95 {percentile(latencies, 0.95):.2f}   max {max(latencies, default=0):.2f}")
    print(f"  outcomes: served {outcomes['served']} (of which deferred {outcomes['deferred']}), "
          f"refused 402 {outcomes['refused']}, failed 503 {outcomes['failed']}; throttled writes {throttled['writes']}")
    exact = counted == outcomes["served"]
    print(f"  usage report counts {counted}: {'exact' if exact else 'NOT EXACT'} (served {outcomes['served']})")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
