"""Decisioning's storage, the only code here that talks to AWS. A tenant's rules, policies, flows,
routing and experiments are rows of the models table in the tenant's partition (`model_id =
decisioning#<kind>#<id>`, apart from the registry's `model_` and the jobs' `job#` rows). Experiment
assignments are rows of the exposures table in the customer's partition (`sk = #assignment#<id>`,
sorted before every timestamped exposure, so neither the frequency-cap read nor the exposure
export sees them, and a user's erasure deletes them with the exposures).

An object is kept as JSON text (`spec`), not as a DynamoDB map: a rule's operand may be any JSON
number (1e-300, a 40-digit integer) and must come back exactly as it was sent, which DynamoDB's
number type (38 digits, 1e-130 to 1e126) cannot promise."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from ..aws.dynamo import CallFailed, Table, conditional_failure, serialize, store_error
from ..errors import ConflictError
from .model import (decode_experiment, decode_flow, decode_policy, decode_route, decode_rule, encode)

T = TypeVar("T")
PREFIX = "decisioning#"
DECODERS: dict[str, Callable[[dict], Any]] = {"rule": decode_rule, "policy": decode_policy, "flow": decode_flow,
                                              "experiment": decode_experiment}
ROUTING_ID = "default"


def _text(spec: dict) -> str:
    return json.dumps(spec, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Stored(Generic[T]):
    """A stored object and when it was written."""

    value: T
    created_at: float
    updated_at: float


class DecisioningStore(Table):
    """Rules, policies, flows, routing and experiments per tenant (models table). Each write made by
    this process is counted per tenant (`writes`), so the recommend path's cache of the tenant's
    objects (decisioning.config) in the same process sees it at once, not after its TTL."""

    _writes: Counter = Counter()

    def writes(self, tenant_id: str) -> int:
        return self._writes[tenant_id]

    def _wrote(self, tenant_id: str) -> None:
        self._writes[tenant_id] += 1

    @staticmethod
    def _key(tenant_id: str, kind: str, object_id: str) -> dict:
        return {"tenant_id": tenant_id, "model_id": f"{PREFIX}{kind}#{object_id}"}

    @staticmethod
    def _stored(kind: str, row: dict) -> Stored:
        return Stored(DECODERS[kind](json.loads(row["spec"])), float(row["created_at"]), float(row["updated_at"]))

    def insert(self, tenant_id: str, kind: str, object_id: str, value: Any, now: float) -> None:
        """Writes a new object; ConflictError when the id is taken."""
        row = {**self._key(tenant_id, kind, object_id), "kind": f"decisioning-{kind}", "spec": _text(encode(value)),
               "created_at": now, "updated_at": now}
        try:
            self.db.put_item(TableName=self.name, Item=serialize(row),
                             ConditionExpression="attribute_not_exists(model_id)")
        except CallFailed as exc:
            if conditional_failure(exc):
                raise ConflictError(f"{kind} {object_id!r} already exists") from exc
            raise store_error("put_item", exc) from exc
        finally:
            self._wrote(tenant_id)

    def replace(self, tenant_id: str, kind: str, object_id: str, value: Any, now: float) -> bool:
        """Replaces an existing object; False when there is none (nothing written)."""
        fields = {"spec": _text(encode(value)), "updated_at": now}
        try:
            return self.update_fields(self._key(tenant_id, kind, object_id), fields, exists="model_id")
        finally:
            self._wrote(tenant_id)

    def get(self, tenant_id: str, kind: str, object_id: str) -> Stored | None:
        row = self.get_row(self._key(tenant_id, kind, object_id), consistent=True)
        return self._stored(kind, row) if row else None

    def get_many(self, tenant_id: str, kind: str, ids: list[str]) -> list[Stored]:
        """The objects that exist among `ids` (any order); unknown ids are simply absent."""
        keys = [self._key(tenant_id, kind, i) for i in dict.fromkeys(ids)]
        return [self._stored(kind, row) for row in self.batch_get_rows(keys)] if keys else []

    def list_all(self, tenant_id: str, kind: str) -> list[Stored]:
        rows = self.query_rows(KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :p)",
                               ExpressionAttributeValues=serialize({":t": tenant_id, ":p": f"{PREFIX}{kind}#"}),
                               ConsistentRead=True)
        return [self._stored(kind, row) for row in rows]

    def count(self, tenant_id: str, kind: str) -> int:
        kwargs: dict[str, Any] = {
            "TableName": self.name, "Select": "COUNT", "ConsistentRead": True,
            "KeyConditionExpression": "tenant_id = :t AND begins_with(model_id, :p)",
            "ExpressionAttributeValues": serialize({":t": tenant_id, ":p": f"{PREFIX}{kind}#"})}
        total = 0
        while True:
            try:
                out = self.db.query(**kwargs)
            except CallFailed as exc:
                raise store_error("query", exc) from exc
            total += int(out.get("Count", 0))
            if "LastEvaluatedKey" not in out:
                return total
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def delete(self, tenant_id: str, kind: str, object_id: str) -> bool:
        """Deletes an object; False when there was none."""
        try:
            self.db.delete_item(TableName=self.name, Key=serialize(self._key(tenant_id, kind, object_id)),
                                ConditionExpression="attribute_exists(model_id)")
        except CallFailed as exc:
            if conditional_failure(exc):
                return False
            raise store_error("delete_item", exc) from exc
        finally:
            self._wrote(tenant_id)
        return True

    def everything(self, tenant_id: str) -> dict[str, list[Stored]]:
        """Every decisioning object of the tenant, by kind, in one Query of its partition (what the
        recommend path caches: see decisioning.config). Routing comes as its one `routing` entry."""
        rows = self.query_rows(KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :p)",
                               ExpressionAttributeValues=serialize({":t": tenant_id, ":p": PREFIX}), ConsistentRead=True)
        out: dict[str, list[Stored]] = {kind: [] for kind in (*DECODERS, "routing")}
        for row in rows:
            kind = row["model_id"][len(PREFIX):].split("#", 1)[0]
            if kind == "routing":
                routes = [decode_route(r) for r in json.loads(row["spec"]).get("routes") or ()]
                out["routing"].append(Stored(routes, float(row["created_at"]), float(row["updated_at"])))
            elif kind in DECODERS:
                out[kind].append(self._stored(kind, row))
        return out

    # ------------------------------------------------------------------ routing: one row per tenant
    def routes(self, tenant_id: str) -> Stored | None:
        row = self.get_row(self._key(tenant_id, "routing", ROUTING_ID), consistent=True)
        if not row:
            return None
        routes = [decode_route(r) for r in json.loads(row["spec"]).get("routes") or ()]
        return Stored(routes, float(row["created_at"]), float(row["updated_at"]))

    def put_routes(self, tenant_id: str, routes: list, now: float) -> None:
        current = self.get_row(self._key(tenant_id, "routing", ROUTING_ID), consistent=True)
        self.put_row({**self._key(tenant_id, "routing", ROUTING_ID), "kind": "decisioning-routing",
                      "spec": _text({"routes": [encode(r) for r in routes]}),
                      "created_at": current["created_at"] if current else now, "updated_at": now})
        self._wrote(tenant_id)


class AssignmentStore(Table):
    """assignment.v1 records in the exposures table, one row per customer and experiment (the first)."""

    RETENTION_S = 30 * 86400  # as the exposures beside them
    SK_PREFIX = "#assignment#"

    def put(self, record: dict) -> bool:
        """Keeps the customer's first assignment to the experiment (when it started counting for its
        variant); False when one is already stored (nothing written). The structured log has every one."""
        row = {**record, "pk": f"{record['tenant_id']}#{record['user_key']}",
               "sk": f"{self.SK_PREFIX}{record['experiment_id']}", "expires_at": int(record["ts"]) + self.RETENTION_S}
        try:
            self.db.put_item(TableName=self.name, Item=serialize(row), ConditionExpression="attribute_not_exists(sk)")
        except CallFailed as exc:
            if conditional_failure(exc):
                return False
            raise store_error("put_item", exc) from exc
        return True

    def tenant_assignments(self, tenant_id: str) -> Iterator[dict]:
        """Every stored assignment of the tenant (GSI by_tenant), as assignment.v1 records."""
        rows = self.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t AND begins_with(sk, :s)",
                               ExpressionAttributeValues=serialize({":t": tenant_id, ":s": self.SK_PREFIX}))
        for row in rows:
            record = {k: v for k, v in row.items() if k not in ("pk", "sk", "expires_at")}
            record.setdefault("request_id", None)
            record["ts"] = float(record["ts"])
            yield record

