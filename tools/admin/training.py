"""`admin train`: train one tenant's model from a terminal as the scheduled train function does,
with a progress line (stage, counts, ALS epoch and its loss, elapsed)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from typing import IO, Mapping

from recengine.catalogue.store import ItemStore
from recengine.errors import DomainError
from recengine.events.store import InteractionStore
from recengine.models.artefacts import ArtefactStore
from recengine.models.markers import TrainedMarkerStore
from recengine.models.registry import ModelRegistry
from recengine.models.job_status import JobTimeouts
from recengine.models.job_store import JobStore
from recengine.models.jobs import queue_training, run_training_job
from recengine.models.training import TrainingPolicy, TrainingStores
from recengine.tenancy.store import TenantStore

from .aws import make_client, stack_outputs
from .target import default_state_file

TRAINING_VARS = {"TENANTS_TABLE": "TenantsTableName", "INTERACTIONS_TABLE": "InteractionsTableName",
                 "SESSIONS_TABLE": "SessionsTableName", "ITEMS_TABLE": "ItemsTableName",
                 "MODELS_TABLE": "ModelsTableName", "MODEL_BUCKET": "ModelBucketName"}


@dataclass(frozen=True)
class TrainingTarget:
    """The tables and bucket a training reads and writes, with the endpoint and region to reach them."""

    names: dict[str, str]  # TRAINING_VARS key -> physical name
    source: str
    endpoint_url: str | None = None
    region: str | None = None

    def stores(self) -> tuple[TenantStore, TrainingStores, JobStore]:
        """The tenants, what a training reads and writes, and the job rows; clients built on first use."""
        dynamodb = make_client("dynamodb", self.endpoint_url, self.region) if self.endpoint_url or self.region \
            else None
        s3 = make_client("s3", self.endpoint_url, self.region) if self.endpoint_url or self.region else None
        n = self.names
        return TenantStore(n["TENANTS_TABLE"], dynamodb), TrainingStores(
            InteractionStore(n["INTERACTIONS_TABLE"], n["SESSIONS_TABLE"], dynamodb),
            ItemStore(n["ITEMS_TABLE"], dynamodb),
            ModelRegistry(n["MODELS_TABLE"], dynamodb), ArtefactStore(n["MODEL_BUCKET"], s3),
            TrainedMarkerStore(n["MODELS_TABLE"], dynamodb)), JobStore(n["MODELS_TABLE"], dynamodb)


def _training_names(found: Mapping[str, str | None], where: str) -> dict[str, str]:
    missing = [var for var in TRAINING_VARS if not found.get(var)]
    if missing:
        raise ValueError(f"{where} names no {', '.join(missing)}")
    return {var: str(found[var]) for var in TRAINING_VARS}


def resolve_training_target(args: argparse.Namespace) -> TrainingTarget:
    """The same three targets as the tenant commands, read for the training's tables (the usage
    plans are not needed, so the environment target needs no USAGE_PLAN_IDS)."""
    if args.stack_name:
        outputs = stack_outputs(args.stack_name, region=args.region)
        found = {var: outputs.get(output) for var, output in TRAINING_VARS.items()}
        return TrainingTarget(_training_names(found, f"stack {args.stack_name!r}"), f"stack {args.stack_name}",
                              region=args.region)
    if args.local or args.state_file:
        path = args.state_file or default_state_file()
        if not path.exists():
            raise ValueError(f"no local stack state at {path}: is `make run` running?")
        state = json.loads(path.read_text())
        return TrainingTarget(_training_names(state.get("env", {}), str(path)), "local",
                              endpoint_url=state.get("endpoint_url"), region=state.get("region"))
    return TrainingTarget(_training_names(os.environ, "the environment"), "env")


# Counts shown after the stage, in this order, when the record has them.
_COUNTS = (("events", "events"), ("catalogue_items", "catalogue items"), ("interactions", "events"),
           ("users", "users"), ("items", "items"), ("nnz", "user-item pairs"), ("eval_users", "eval users"),
           ("holdout_events", "held-out events"))
_METRICS = ("recall@20", "ndcg@10", "coverage@20")


def _bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def describe_progress(info: dict) -> str:
    """One line for one progress record of train_tenant: elapsed, stage, bar (ALS epochs), counts, loss."""
    stage = str(info.get("stage", "?"))
    label = stage + (f" ({info['fit']} fit)" if info.get("fit") else "")
    parts = [f"{float(info.get('elapsed_s', 0.0)):7.1f}s", f"{label:<20}"]
    if info.get("iteration") is not None and info.get("of"):
        parts.append(f"{_bar(int(info['iteration']) / int(info['of']))} epoch {info['iteration']}/{info['of']}")
    if info.get("round") is not None:
        parts.append(f"round {info['round']}")
    names = dict(_COUNTS, **({"nnz": "item-item weights"} if stage == "ease" else {}))
    parts.extend(f"{int(info[key]):,} {names[key]}" for key, _ in _COUNTS if info.get(key) is not None)
    if info.get("loss") is not None:
        parts.append(f"loss {float(info['loss']):.5g}")
    parts.extend(f"{m} {float(info[m]):.4f}" for m in _METRICS if info.get(m) is not None)
    if stage == "done":
        parts.append(f"{info.get('model_id')} is {info.get('status')}" + (f": {info['reason']}"
                                                                         if info.get("reason") else ""))
    return "  ".join(parts).rstrip()


class ProgressDisplay:
    """Draws train_tenant's progress on a terminal as one line redrawn in place (a new line per
    finished phase); anywhere else (a pipe, CI's log) as one plain line per record."""

    KEEP = ("loaded", "evaluated", "done")  # records whose line stays on screen

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self._drawn = 0

    def __call__(self, info: dict) -> None:
        line = describe_progress(info)
        if not self.tty:
            self.stream.write(line + "\n")
        else:
            columns = shutil.get_terminal_size((100, 20)).columns - 1
            line = line[:columns]  # a wrapped line cannot be redrawn with \r
            self.stream.write("\r" + line + " " * max(0, self._drawn - len(line)))
            self._drawn = len(line)
            if info.get("stage") in self.KEEP:
                self.stream.write("\n")
                self._drawn = 0
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


def training_policy(env: Mapping[str, str] | None = None) -> TrainingPolicy:
    """The train function's policy, from the same variables (PROMOTION_TOLERANCE, KEEP_MODEL_VERSIONS)."""
    env = os.environ if env is None else env
    defaults = TrainingPolicy()
    try:
        return TrainingPolicy(float(env.get("PROMOTION_TOLERANCE") or defaults.tolerance),
                              int(env.get("KEEP_MODEL_VERSIONS") or defaults.keep_versions))
    except ValueError as exc:
        raise ValueError(f"invalid PROMOTION_TOLERANCE or KEEP_MODEL_VERSIONS: {exc}") from None


def run_training(args: argparse.Namespace, target: TrainingTarget, display: ProgressDisplay) -> dict:
    """Trains here, as a job of its own (trigger `cli`): it takes the tenant's training lock like any
    other training, so it never overlaps one the API or the schedule started (that is an error)."""
    tenants, stores, jobs = target.stores()
    if tenants.get_tenant(args.tenant) is None:
        raise DomainError(f"tenant {args.tenant!r} not found")
    display.stream.write(f"training {args.tenant} ({target.source}){' --force' if args.force else ''}\n")
    job = queue_training(jobs, lambda tenant_id, job_id: None, args.tenant, timeouts=JobTimeouts(), trigger="cli",
                         force=args.force)
    try:
        done = run_training_job(stores, jobs, args.tenant, job["job_id"], policy=training_policy(), progress=display)
    finally:
        display.close()
    if done.get("status") != "succeeded":
        detail = done.get("detail") or done.get("error") or done.get("status")
        if done.get("status") == "skipped" and not args.force:
            detail = "no interactions newer than the last training (--force trains anyway)"
        return {"tenant_id": args.tenant, "trained": False, "job_id": job["job_id"], "detail": detail}
    record = stores.registry.get_version(args.tenant, done["result_model_id"], consistent=True) or {}
    return {"tenant_id": args.tenant, "trained": True, "job_id": job["job_id"], "model_id": record["model_id"],
            "status": record["status"], "promotion_reason": record.get("promotion_reason"),
            "artefact": record.get("artefact"), "metrics": record.get("metrics", {})}


def render_training(result: dict) -> str:
    lines = [f"tenant   {result['tenant_id']}"]
    if not result["trained"]:
        return "\n".join(lines + [f"skipped  {result['detail']}"])
    metrics = result["metrics"]
    lines += [f"model    {result['model_id']} ({result['status']})",
              f"why      {result.get('promotion_reason') or '-'}",
              "metrics  " + ", ".join(f"{m} {float(metrics[m]):.4f}" for m in _METRICS if m in metrics)
              + f"; {metrics.get('interactions', 0):,} events, {metrics.get('users', 0):,} users, "
                f"{metrics.get('items', 0):,} items; {float(metrics.get('total_s', 0)):.1f} s",
              f"artefact {result.get('artefact') or '-'}"]
    return "\n".join(lines)
