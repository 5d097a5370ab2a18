"""`make run`: moto server + tables/bucket from template.yaml + demo tenant, catalogue and history
+ a trained model + the local gateway, then ready-to-paste curl commands. Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "engine"))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


STATE_FILE = ROOT / ".local-stack" / "state.json"


def write_state(path: Path, state: dict) -> None:
    """Where the running stack is (moto endpoint, table names, usage plans): the admin CLI's
    `--local` reads it, and the gateway re-reads API keys whenever the CLI touches it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def remove_state(path: Path) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def start_worker() -> subprocess.Popen:
    """The queue worker (local/worker.py) in a process of its own, with this stack's environment."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "engine"), str(ROOT)])}
    return subprocess.Popen([sys.executable, "-m", "local.worker"], cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="gateway port (0 picks a free one)")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--events-per-user", type=int, default=30)
    parser.add_argument("--stripe-standin", action="store_true",
                        help="checkout and portal on Stripe's SDK against local/stripe_standin.py (else 501)")
    args = parser.parse_args(argv)
    started = time.monotonic()

    import logging

    from moto.server import ThreadedMotoServer

    from local.moto_atomic import (atomic_item_writes, fast_item_responses, item_scoped_rollback,
                                   partition_scoped_queries)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    moto_port = free_port(args.host)
    moto = ThreadedMotoServer(ip_address=args.host, port=moto_port, verbose=False)
    moto.start()
    # The meter writes a transaction per metered call, every recommend queries a partition: keep moto's
    # cost per transaction and per query flat in the table's size, and its answers' items out of its
    # slow generic serializer (moto_atomic.py).
    patches = contextlib.ExitStack()
    patches.enter_context(item_scoped_rollback())
    patches.enter_context(atomic_item_writes())
    patches.enter_context(partition_scoped_queries())
    patches.enter_context(fast_item_responses())
    from local.moto_cognito import unknown_refresh_tokens_refused

    patches.enter_context(unknown_refresh_tokens_refused())  # a made-up refresh token: 401, as in AWS
    state_dir = Path(tempfile.mkdtemp(prefix="recengine-local-"))
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://{args.host}:{moto_port}",
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "MODEL_CACHE_DIR": str(state_dir / "models"),
        "POWERTOOLS_SERVICE_NAME": "recengine", "POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        # EMF metrics go to CloudWatch in AWS; here they would only fill the terminal.
        "POWERTOOLS_METRICS_DISABLED": "true",
        # Jobs leave the request as in AWS: SQS messages (moto's queues), consumed by the train and
        # batch worker functions in a worker process of their own (local/worker.py).
        "TRAIN_LAUNCH": "sqs",
        "BATCH_DISPATCH": "sqs",
    })
    log(f"moto server on {os.environ['AWS_ENDPOINT_URL']}")
    os.environ["RECENGINE_LOCAL_STATE"] = str(STATE_FILE)

    from local import demo, provision
    from local.gateway import Gateway, serve
    from recengine.catalogue.schemas import ItemIn
    from recengine.catalogue.service import upsert_items
    from recengine.events.schemas import InteractionIn
    from recengine.events.service import record_interactions
    from recengine.models.training import train_tenant
    from recengine.runtime import runtime
    from recengine.tenancy.roles import Role

    # The pseudonym key's secret gets a fresh random value per run (the demo data lives only as long
    # as this process); PSEUDONYM_SECRET_ID names it.
    os.environ.update(provision.create_resources("local"))
    api_id, plan_ids = provision.create_api("local")
    if args.stripe_standin:  # as a deployment with StripeSecretArn set, Stripe being the stand-in
        from local.stripe_standin import StripeStandIn

        standin = StripeStandIn().start(free_port(args.host))
        os.environ.update({"STRIPE_SECRET_ID": provision.create_stripe_secret("local", standin.api_key),
                           "BILLING_RETURN_URL": "https://app.example.com/billing", "STRIPE_API_BASE": standin.url})
        log(f"Stripe stand-in on {standin.url}: checkout and portal answer its hosted-page URLs")
    rt = runtime()
    tenant, admin_key, _ = provision.create_tenant(rt.settings.tenants_table, "Demo Shop", "growth", plan_ids)
    # One key per role; each example below uses the least role its route needs (tenancy/roles.py).
    read_key, _ = provision.create_key(rt.settings.tenants_table, tenant.tenant_id, Role.READ, plan_ids)
    write_key, _ = provision.create_key(rt.settings.tenants_table, tenant.tenant_id, Role.WRITE, plan_ids)
    log(f"demo tenant {tenant.tenant_id} on plan {tenant.plan}, with a read, a write and an admin key")
    # A portal (Cognito) admin of the demo tenant: its token calls the portal's routes (/api/users...).
    portal_email = "admin@demo-shop.example"
    portal_password = provision.create_portal_admin(tenant.tenant_id, portal_email)

    data = demo.generate(n_users=args.users, n_items=args.items, events_per_user=args.events_per_user)
    drafts = [ItemIn.model_validate(i).draft() for i in data.items]  # the API's own validation
    for start in range(0, len(drafts), 500):
        upsert_items(rt.items, tenant.tenant_id, drafts[start:start + 500])
    events = [InteractionIn.model_validate(e).to_event() for e in data.interactions]
    for start in range(0, len(events), 500):
        record_interactions(rt.interactions, rt.seen_users, rt.pseudonyms, tenant.tenant_id, events[start:start + 500])
        log(f"loaded {min(start + 500, len(events))}/{len(events)} interactions")
    record = train_tenant(rt.training, tenant.tenant_id)
    log(f"trained {record['model_id']} on {record['interactions']} interactions "
        f"({record['meta']['items']} items, {record['meta']['users']} users)")

    worker = start_worker()
    gateway = Gateway()
    gateway.warm()
    port = args.port or free_port(args.host)
    server = serve(gateway, args.host, port)
    base = f"http://{args.host}:{server.server_address[1]}"
    write_state(STATE_FILE, {
        "pid": os.getpid(), "base_url": base, "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
        "region": os.environ["AWS_REGION"], "api_id": api_id, "usage_plan_ids": plan_ids,
        "env": {k: os.environ[k] for k in ("ITEMS_TABLE", "INTERACTIONS_TABLE", "SESSIONS_TABLE", "EXPOSURES_TABLE",
                                           "MODELS_TABLE", "TENANTS_TABLE", "USAGE_TABLE", "MODEL_BUCKET",
                                           "PSEUDONYM_SECRET_ID")}})
    user = next(iter(data.user_tastes))
    checkout_example = "" if not args.stripe_standin else (  # without Stripe, checkout answers 501
        f"\n  curl -s -X POST {base}/api/billing/checkout -H 'x-api-key: {admin_key}' "
        "-H 'content-type: application/json' -d '{\"planId\": \"plan-growth\", \"interval\": \"monthly\"}'")
    print(f"""
recengine local stack is ready in {time.monotonic() - started:.1f}s
  base URL : {base}
  API keys : read  {read_key}   recommend, similar, validate, every GET (a storefront backend)
             write {write_key}  also interactions and item upserts
             admin {admin_key}  everything: deletes, models, training, batch, billing changes
  tenant   : {tenant.tenant_id} (demo user {user} likes {', '.join(data.user_tastes[user])})

Paste these:
  curl -s {base}/health
  curl -s -X POST {base}/v1/recommend -H 'x-api-key: {read_key}' -H 'content-type: application/json' \\
       -d '{{"user_id": "{user}", "limit": 5}}'
  curl -s -X POST {base}/v1/recommend -H 'Authorization: Bearer {read_key}' -H 'content-type: application/json' \\
       -d '{{"user_id": "{user}", "surface": "home", "placements": [{{"placement_id": "hero", "limit": 2}}, {{"placement_id": "feed", "limit": 4}}], "deduplicate": true, "filters": {{"range": {{"price": {{"max": 100}}}}}}, "debug": true}}'
  curl -s '{base}/v1/recommend?user_id={user}&limit=3&surface=home' -H 'x-api-key: {read_key}'
  curl -s -X POST {base}/v1/similar -H 'x-api-key: {read_key}' -H 'content-type: application/json' \\
       -d '{{"item_id": "item-00001", "limit": 5}}'
  curl -s -X POST {base}/v1/interactions -H 'x-api-key: {write_key}' -H 'content-type: application/json' \\
       -d '{{"user_id": "{user}", "session_id": "s-1", "item_id": "item-00042", "type": "purchase"}}'
  curl -s '{base}/v1/items?limit=3&search=books' -H 'x-api-key: {read_key}'
  curl -s -X PUT {base}/v1/billing/overage-cap -H 'x-api-key: {admin_key}' -H 'content-type: application/json' \\
       -d '{{"cap_amount": 250}}'
  curl -s {base}/v1/billing/plans{checkout_example}
  TOKEN=$(curl -s -X POST {base}/api/auth/login -H 'content-type: application/json' \
       -d '{{"email": "{portal_email}", "password": "{portal_password}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s '{base}/api/users?page=1&pageSize=5' -H "Authorization: Bearer $TOKEN"
  curl -s -X POST {base}/api/recommendations/generate -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{{"algorithm": "hybrid", "userSegment": "all", "count": 10}}'
  curl -s '{base}/api/recommendations?page=1&pageSize=5' -H "Authorization: Bearer $TOKEN"
  curl -s '{base}/api/analytics/data?period=7d' -H "Authorization: Bearer $TOKEN"
portal login: {portal_email} {portal_password}

READY base_url={base} api_key={admin_key} read_key={read_key} write_key={write_key}
Ctrl-C stops everything.""", flush=True)

    stop = threading.Event()
    # Explicit handlers: a SIGINT inherited as ignored (e.g. from a background job) still stops us.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        if worker.poll() is not None:
            log(f"the queue worker exited ({worker.returncode}); restarting it")
            worker = start_worker()
    log("stopping")
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
    server.shutdown()
    server.server_close()
    moto.stop()
    patches.close()
    remove_state(STATE_FILE)
    shutil.rmtree(state_dir, ignore_errors=True)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
