"""Decisioning services, plain typed arguments in and out: CRUD of a tenant's rules, contact
policies, flows, routing and experiments (bounded per tenant), and what the recommend path asks:
which flow serves a request, the flow's rules and policies, the experiment that applies and the
customer's variant (logged as assignment.v1)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from ..attribution.records import assignment_record
from ..errors import ConflictError, NotFoundError, StoreError
from ..observability import logger
from .config import load
from .experiments import assign
from .model import ContactPolicy, Experiment, Flow, QualificationRule, Route, Variant
from .store import AssignmentStore, DecisioningStore, Stored

# How many of each a tenant may keep: every request of a routed tenant reads its flow's rules and
# policies, so the sets stay small enough to read in one batch.
LIMITS = {"rule": 200, "policy": 50, "flow": 50, "experiment": 20}
ID_FIELD = {"rule": "rule_id", "policy": "policy_id", "experiment": "experiment_id"}
ID_PREFIX = {"rule": "rule_", "policy": "pol_", "experiment": "exp_"}
clock: Callable[[], float] = time.time
# What an id or flow key can be (generated ids and NewFlowIn keys match it): anything else in a path
# names nothing, and is answered 404 without a read (DynamoDB keys are bounded too).
OBJECT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class LimitExceededError(ConflictError):
    """The tenant already keeps as many of these as it may (409)."""


class UnknownReferenceError(ConflictError):
    """The object names rules, policies or flows the tenant does not have (409: it conflicts with
    the tenant's current state; create them first)."""


@dataclass(frozen=True)
class Assignment:
    """The variant a customer was assigned and the assignment.v1 record that was logged."""

    experiment: Experiment
    variant: Variant
    record: dict[str, Any]


def _new_id(kind: str) -> str:
    return ID_PREFIX[kind] + secrets.token_hex(8)


def _room(store: DecisioningStore, tenant_id: str, kind: str) -> None:
    if store.count(tenant_id, kind) >= LIMITS[kind]:
        raise LimitExceededError(f"a tenant keeps at most {LIMITS[kind]} {kind} objects; delete one first")


def create(store: DecisioningStore, tenant_id: str, kind: str, draft: Any) -> Stored:
    """Stores a new rule, policy or experiment under a fresh id (the draft's id is ignored)."""
    _room(store, tenant_id, kind)
    if kind == "experiment":
        _check_variants(store, tenant_id, draft.variants)
    value = replace(draft, **{ID_FIELD[kind]: _new_id(kind)})
    now = clock()
    store.insert(tenant_id, kind, getattr(value, ID_FIELD[kind]), value, now)
    return Stored(value, now, now)


def _known(kind: str, object_id: str) -> str:
    if not OBJECT_ID.match(object_id):
        raise NotFoundError(f"{kind} {object_id[:64]!r} not found")
    return object_id


def get(store: DecisioningStore, tenant_id: str, kind: str, object_id: str) -> Stored:
    """One object of the tenant; NotFoundError for an unknown id (or another tenant's)."""
    found = store.get(tenant_id, kind, _known(kind, object_id))
    if found is None:
        raise NotFoundError(f"{kind} {object_id!r} not found")
    return found


def list_objects(store: DecisioningStore, tenant_id: str, kind: str) -> list[Stored]:
    """Every object of a kind, oldest first."""
    return sorted(store.list_all(tenant_id, kind), key=lambda s: (s.created_at, _id_of(kind, s.value)))


def _id_of(kind: str, value: Any) -> str:
    return value.key if kind == "flow" else getattr(value, ID_FIELD[kind])


def update(store: DecisioningStore, tenant_id: str, kind: str, object_id: str, draft: Any) -> Stored:
    """Replaces an object whole (its id kept); NotFoundError when there is none."""
    _known(kind, object_id)
    if kind == "experiment":
        _check_variants(store, tenant_id, draft.variants)
    if kind == "flow":
        _check_references(store, tenant_id, draft)
    value = replace(draft, **({"key": object_id} if kind == "flow" else {ID_FIELD[kind]: object_id}))
    if not store.replace(tenant_id, kind, object_id, value, clock()):
        raise NotFoundError(f"{kind} {object_id!r} not found")
    return get(store, tenant_id, kind, object_id)


def delete(store: DecisioningStore, tenant_id: str, kind: str, object_id: str) -> None:
    if not store.delete(tenant_id, kind, _known(kind, object_id)):
        raise NotFoundError(f"{kind} {object_id!r} not found")


# ------------------------------------------------------------------ flows and routing
def _check_references(store: DecisioningStore, tenant_id: str, flow: Flow) -> None:
    """A flow may only name the tenant's own rules and policies."""
    for kind, ids in (("rule", flow.rule_ids), ("policy", flow.policy_ids)):
        known = {_id_of(kind, s.value) for s in store.get_many(tenant_id, kind, list(ids))}
        unknown = [i for i in dict.fromkeys(ids) if i not in known]
        if unknown:
            raise UnknownReferenceError(f"unknown {kind} ids: {', '.join(unknown)}")


def _check_flows(store: DecisioningStore, tenant_id: str, keys: list[str]) -> None:
    known = {s.value.key for s in store.get_many(tenant_id, "flow", keys)}
    unknown = [k for k in dict.fromkeys(keys) if k not in known]
    if unknown:
        raise UnknownReferenceError(f"unknown flow keys: {', '.join(unknown)}")


def _check_variants(store: DecisioningStore, tenant_id: str, variants: tuple[Variant, ...]) -> None:
    _check_flows(store, tenant_id, [v.flow_key for v in variants if v.flow_key])


def create_flow(store: DecisioningStore, tenant_id: str, flow: Flow) -> Stored:
    """Stores a new flow under its key; ConflictError if the key is taken."""
    _room(store, tenant_id, "flow")
    _check_references(store, tenant_id, flow)
    now = clock()
    store.insert(tenant_id, "flow", flow.key, flow, now)
    return Stored(flow, now, now)


def get_routes(store: DecisioningStore, tenant_id: str) -> list[Route]:
    found = store.routes(tenant_id)
    return found.value if found else []


def put_routes(store: DecisioningStore, tenant_id: str, routes: list[Route]) -> list[Route]:
    """Replaces the tenant's routing rules; each must name one of its flows."""
    _check_flows(store, tenant_id, [r.flow_key for r in routes])
    store.put_routes(tenant_id, routes, clock())
    return routes


def resolve_flow(store: DecisioningStore, tenant_id: str, decision_flow_key: str | None, channel: str | None,
                 placement: str | None) -> Flow | None:
    """The flow that serves a request: the one it names (NotFoundError when the tenant has no such
    enabled flow), else the most specific routing rule's; None when nothing routes the request."""
    config = load(store, tenant_id)
    return config.flow(decision_flow_key) if decision_flow_key else config.routed(channel, placement)


def flow_rules(store: DecisioningStore, tenant_id: str, flow: Flow) -> list[QualificationRule]:
    """The flow's rules that still exist; evaluation orders them by priority."""
    return load(store, tenant_id).rules_of(flow)


def flow_policies(store: DecisioningStore, tenant_id: str, flow: Flow) -> list[ContactPolicy]:
    """The flow's contact policies that still exist, in the flow's order."""
    return load(store, tenant_id).policies_of(flow)


# ------------------------------------------------------------------ experiments
def active_experiment(store: DecisioningStore, tenant_id: str, channel: str | None,
                      placement: str | None) -> Experiment | None:
    """The enabled experiment that covers a request: the most specific scope (as routing), then the oldest."""
    return load(store, tenant_id).experiment(channel, placement)


def assign_and_log(assignments: AssignmentStore | None, tenant_id: str, experiment: Experiment, user_key: str,
                   request_id: str | None, now: float | None = None) -> Assignment:
    """The customer's variant (stable hash of experiment id and the pseudonymous key), logged as an
    `assignment` line and, when a store is given, kept beside the customer's exposures (the first per
    experiment). A failed write is logged, not raised: serving goes on, the log still has it."""
    variant = assign(experiment, user_key)
    record = assignment_record(tenant_id=tenant_id, experiment_id=experiment.experiment_id, variant=variant.name,
                               user_key=user_key, request_id=request_id, ts=clock() if now is None else now)
    logger.info("assignment", extra={"assignment": record})
    if assignments is not None:
        try:
            assignments.put(record)
        except StoreError as exc:
            logger.warning("assignment not stored", extra={"tenant_id": tenant_id, "error": str(exc)})
    return Assignment(experiment, variant, record)


def export_assignments(assignments: AssignmentStore, tenant_id: str) -> Iterator[dict]:
    return assignments.tenant_assignments(tenant_id)
