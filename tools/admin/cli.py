"""python -m tools.admin [--stack-name NAME | --local] [--json] COMMAND

  tenant create --name NAME --plan PLAN [--tenant-id ID]   new tenant + an admin API key (shown once)
  tenant list                                              tenants, plans, key ids and their roles
  key create --tenant ID --role read|write|admin           one more key with that role (shown once)
  key rotate --tenant ID [--role ROLE]                     new keys with the same roles; the old ones disabled
  key revoke --key-id ID                                   disable one key
  plan change --tenant ID --plan PLAN                      move the tenant's keys to another usage plan
  tenant nightly --tenant ID [--algorithm A] [--count N]   nightly batch generation for the tenant's users
  tenant nightly --tenant ID --off                         stop the tenant's nightly batch generation
  tenant ttl --tenant ID --days N | --off                  keep the tenant's interactions N days (default: kept)
  train --tenant ID [--force]                              train the tenant's model now, with a progress bar

Key roles: read (recommend, similar, validate and every GET: safe in a storefront backend), write
(also interactions and item upserts), admin (everything: item deletes, models, training, batch
generation, billing changes). A key's role is part of its value (rk_<role>_...); a key issued before
roles existed has no prefix and is an admin key.

Target: --stack-name NAME reads a deployed stack's outputs (CloudFormation); --local reads the running
local stack's .local-stack/state.json (or --state-file); otherwise TENANTS_TABLE, USAGE_TABLE and
USAGE_PLAN_IDS ("starter=<id>,growth=<id>,enterprise=<id>") from the environment (train reads the
functions' ITEMS_TABLE, INTERACTIONS_TABLE, SESSIONS_TABLE, MODELS_TABLE, TENANTS_TABLE, MODEL_BUCKET)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from recengine.billing.plans import PLANS
from recengine.billing.store import UsageStore
from recengine.engine.recommender import ALGORITHMS
from recengine.errors import DomainError
from recengine.tenancy.roles import ROLES, Role

from .aws import ApiKeys, make_client
from .target import Target, from_env, from_stack, from_state_file
from .tenants import IssuedKey, TenantAdmin
from .training import ProgressDisplay, render_training, resolve_training_target, run_training

REVOKE_NOTE = "Revoked keys are disabled in API Gateway and marked revoked in the tenants table; they are not deleted."


def _target_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    kw = {} if defaults else {"default": argparse.SUPPRESS}
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack-name", help="a deployed stack: read its outputs", **kw)
    where.add_argument("--local", action="store_true", help="the running local stack (make run)", **kw)
    parser.add_argument("--state-file", type=Path, help="the local stack's state file (implies --local)", **kw)
    parser.add_argument("--region", help="AWS region of the deployed stack", **kw)
    parser.add_argument("--json", action="store_true", help="print JSON", **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _target_options(parser, defaults=True)
    groups = parser.add_subparsers(dest="group", required=True)

    def leaf(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _target_options(p, defaults=False)
        return p

    tenant = groups.add_parser("tenant", help="create and list tenants").add_subparsers(dest="action", required=True)
    create = leaf(tenant, "create", "Create a tenant with one admin API key on its plan; the key value is printed "
                                    "once.")
    create.add_argument("--name", required=True)
    create.add_argument("--plan", required=True, choices=list(PLANS))
    create.add_argument("--tenant-id", help="lowercase letters, digits and dashes (default: from the name)")
    leaf(tenant, "list", "List tenants with their plans, API key ids and the keys' roles.")
    nightly = leaf(tenant, "nightly", "Turn the tenant's nightly batch generation (every user with events, "
                                      "at 03:00 UTC) on or off.")
    nightly.add_argument("--tenant", required=True)
    nightly.add_argument("--algorithm", choices=list(ALGORITHMS), default="hybrid")
    nightly.add_argument("--count", type=int, default=10, help="recommendations per user (1-100)")
    nightly.add_argument("--off", action="store_true", help="stop the nightly generation")
    ttl = leaf(tenant, "ttl", "Keep the tenant's interactions for N days from their timestamp (DynamoDB TTL on the "
                              "rows written from now on), or (--off, the default) keep them.")
    ttl.add_argument("--tenant", required=True)
    days = ttl.add_mutually_exclusive_group(required=True)
    days.add_argument("--days", type=int, help="days an interaction is kept (1-3650)")
    days.add_argument("--off", action="store_true", help="keep interactions (no expiry)")

    key = groups.add_parser("key", help="create, rotate and revoke API keys").add_subparsers(dest="action",
                                                                                            required=True)
    key_create = leaf(key, "create", "Issue one more API key with the role on the tenant's plan; the key value is "
                                     "printed once. read: recommend, similar, validate and every GET (safe in a "
                                     "storefront backend); write: also interactions and item upserts; admin: "
                                     "everything.")
    key_create.add_argument("--tenant", required=True)
    key_create.add_argument("--role", required=True, choices=ROLES)
    rotate = leaf(key, "rotate", "Replace each of the tenant's active keys (only those of --role, if given) by a new "
                                 "key with the same role on the tenant's plan, then revoke the old ones; a key from "
                                 "before roles is replaced by an admin key. " + REVOKE_NOTE)
    rotate.add_argument("--tenant", required=True)
    rotate.add_argument("--role", choices=ROLES, help="rotate only the keys with this role")
    revoke = leaf(key, "revoke", "Revoke one API key. " + REVOKE_NOTE)
    revoke.add_argument("--key-id", required=True)
    digests = leaf(key, "digests", "Record the value digest of each active key (issued before digests were kept), "
                                   "so that register and the routes taking a key or a portal token know it by value.")
    digests.add_argument("--tenant", help="only this tenant's keys")

    plan = groups.add_parser("plan", help="change a tenant's plan").add_subparsers(dest="action", required=True)
    change = leaf(plan, "change", "Move the tenant's keys to the plan's usage plan and record the new plan.")
    change.add_argument("--tenant", required=True)
    change.add_argument("--plan", required=True, choices=list(PLANS))

    train = groups.add_parser("train", help="train a tenant's model now",
                              description="Train the tenant's model as the scheduled train function does (read, "
                                          "evaluate on a holdout, fit, publish past the promotion guard), showing "
                                          "progress on stderr.")
    _target_options(train, defaults=False)
    train.add_argument("--tenant", required=True)
    train.add_argument("--force", action="store_true", help="train even without interactions newer than the live "
                                                            "model's")
    train.set_defaults(action=None)
    return parser


def resolve_target(args: argparse.Namespace) -> Target:
    if args.stack_name:
        return from_stack(args.stack_name, region=args.region)
    if args.local or args.state_file:
        return from_state_file(args.state_file)
    return from_env()


def admin_for(target: Target) -> TenantAdmin:
    dynamodb = make_client("dynamodb", target.endpoint_url, target.region) if target.endpoint_url or target.region \
        else None
    usage = UsageStore(target.usage_table, dynamodb) if target.usage_table else None
    return TenantAdmin(ApiKeys(endpoint_url=target.endpoint_url, region=target.region), target.tenants_table,
                       target.plan_ids, usage, on_keys_changed=target.keys_changed, dynamodb=dynamodb)


def run(args: argparse.Namespace, admin: TenantAdmin) -> dict:
    command = (args.group, args.action)
    if command == ("tenant", "create"):
        issued = admin.create_tenant(args.name, args.plan, args.tenant_id)
        return {"tenant_id": issued.tenant.tenant_id, "name": issued.tenant.name, "plan": issued.tenant.plan,
                **_key(issued)}
    if command == ("tenant", "list"):
        return {"tenants": admin.list_tenants()}
    if command == ("key", "create"):
        issued = admin.create_key(args.tenant, Role(args.role))
        return {"tenant_id": issued.tenant.tenant_id, "plan": issued.tenant.plan, **_key(issued)}
    if command == ("key", "rotate"):
        keys, revoked = admin.rotate_keys(args.tenant, Role(args.role) if args.role else None)
        # One key replaced (the usual case) also answers flat, as before roles: key_id, api_key, role.
        single = _key(keys[0]) if len(keys) == 1 else {}
        return {"tenant_id": keys[0].tenant.tenant_id, "plan": keys[0].tenant.plan, **single,
                "keys": [{**_key(k), "replaces": k.replaces} for k in keys], "revoked_key_ids": revoked}
    if command == ("key", "revoke"):
        return {"tenant_id": admin.revoke_key(args.key_id), "revoked_key_ids": [args.key_id]}
    if command == ("key", "digests"):
        return {"digested_key_ids": admin.record_key_digests(args.tenant)}
    if command == ("tenant", "nightly"):
        if args.off:
            admin.disable_nightly_batch(args.tenant)
            return {"tenant_id": args.tenant, "nightly_batch": None}
        return {"tenant_id": args.tenant,
                "nightly_batch": admin.enable_nightly_batch(args.tenant, args.algorithm, args.count)}
    if command == ("tenant", "ttl"):
        tenant = admin.set_interaction_ttl(args.tenant, None if args.off else args.days)
        return {"tenant_id": tenant.tenant_id, "interaction_ttl_days": tenant.interaction_ttl_days}
    if command == ("plan", "change"):
        tenant = admin.change_plan(args.tenant, args.plan)
        return {"tenant_id": tenant.tenant_id, "plan": tenant.plan,
                "key_ids": [k["api_key_id"] for k in admin.active_keys(tenant.tenant_id)]}
    raise ValueError(f"unknown command {' '.join(command)}")


def _key(issued: IssuedKey) -> dict:
    return {"key_id": issued.key_id, "role": issued.role.value, "api_key": issued.value}


def render(args: argparse.Namespace, result: dict) -> str:
    if args.json:
        return json.dumps(result, indent=2, default=str)
    if "tenants" in result:
        lines = [f"{'TENANT':<34} {'PLAN':<11} {'NAME':<24} {'NIGHTLY':<18} ACTIVE KEYS"]
        for t in result["tenants"]:
            active = [f"{k['key_id']} ({k['role']})" for k in t["keys"] if not k["revoked"]]
            lines.append(f"{t['tenant_id']:<34} {t['plan']:<11} {t['name'][:24]:<24} "
                         f"{_nightly_text(t.get('nightly_batch')):<18} {', '.join(active) or '-'}")
        return "\n".join(lines)
    if "trained" in result:
        return render_training(result)
    if "digested_key_ids" in result:
        return f"digests  {', '.join(result['digested_key_ids']) or '-'} (known by value from now on)"
    if "interaction_ttl_days" in result and "tenants" not in result:
        days = result["interaction_ttl_days"]
        return f"tenant   {result['tenant_id']}\ninteractions kept " + (f"{days} days" if days else "(no expiry)")
    if "nightly_batch" in result:
        return f"tenant   {result['tenant_id']}\nnightly  {_nightly_text(result['nightly_batch'])}" + (
            " per user, every night at 03:00 UTC" if result["nightly_batch"] else "")
    lines = [f"tenant   {result['tenant_id']}" + (f" (plan {result['plan']})" if "plan" in result else "")]
    for key in result.get("keys") or ([result] if "api_key" in result else []):
        lines.append(f"key id   {key['key_id']} (role {key['role']})" + (
            f", replaces {key['replaces']}" if key.get("replaces") else ""))
        lines.append(f"API key  {key['api_key']}   <- shown once: hand it to the tenant now")
    if result.get("revoked_key_ids"):
        lines.append(f"revoked  {', '.join(result['revoked_key_ids'])} (disabled, not deleted)")
    if "key_ids" in result:
        lines.append(f"keys     {', '.join(result['key_ids']) or '-'} now on the {result['plan']} usage plan")
    return "\n".join(lines)


def _nightly_text(setting: dict | None) -> str:
    return f"{setting['algorithm']} x{setting['count']}" if setting else "off"


def main(argv: list[str] | None = None, admin: TenantAdmin | None = None,
         progress: ProgressDisplay | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.group == "train":
            result = run_training(args, resolve_training_target(args), progress or ProgressDisplay())
        else:
            result = run(args, admin or admin_for(resolve_target(args)))
    except (DomainError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(render(args, result))
    return 0
