"""The model registry in the models table: each tenant's versions (`model_<...>` rows), the `LIVE`
pointer row naming the version that serves, and a version counter. Every change that two writers
could race on is conditional, so overlapping trainings and promotions can never leave two live
versions, a duplicate version number, or a deleted artefact behind the live pointer."""

from __future__ import annotations

from ..aws.dynamo import Table, serialize
from ..errors import ConflictError, NotFoundError

SERVABLE = ("candidate", "live", "retired")
DELETABLE = ("candidate", "retired", "failed")
PROMOTION_GRACE_S = 900.0  # a promotion that started this long ago and never finished no longer shields


class LiveChangedError(ConflictError):
    """The live version changed between reading it and swapping it (another promotion won)."""


class ModelRegistry(Table):
    """Model versions per tenant, and a `LIVE` pointer row naming the serving version."""

    LIVE = "LIVE"
    COUNTER = "COUNTER"
    VERSION_PREFIX = "model_"

    def _key(self, tenant_id: str, model_id: str) -> dict:
        return serialize({"tenant_id": tenant_id, "model_id": model_id})

    def put_version(self, tenant_id: str, record: dict) -> None:
        self.put_row({**record, "tenant_id": tenant_id})

    def get_version(self, tenant_id: str, model_id: str, consistent: bool = False) -> dict | None:
        return self.get_row({"tenant_id": tenant_id, "model_id": model_id}, consistent=consistent)

    def live_model_id(self, tenant_id: str, consistent: bool = False) -> str | None:
        row = self.get_row({"tenant_id": tenant_id, "model_id": self.LIVE}, consistent=consistent)
        return row["live_model_id"] if row else None

    def versions(self, tenant_id: str) -> list[dict]:
        """The tenant's model versions (not the LIVE pointer nor job rows), oldest first."""
        rows = self.query_rows(KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :m)",
                               ExpressionAttributeValues=serialize({":t": tenant_id, ":m": self.VERSION_PREFIX}),
                               ConsistentRead=True)
        return sorted(rows, key=lambda r: (r.get("version", 0), r.get("created_at", 0)))

    def update_version(self, tenant_id: str, model_id: str, fields: dict) -> None:
        """Sets fields on an existing version row (a None value removes the field); NotFoundError if none."""
        if not self.update_fields({"tenant_id": tenant_id, "model_id": model_id}, fields, exists="model_id"):
            raise NotFoundError(f"{model_id!r} not found")

    def next_version(self, tenant_id: str) -> int:
        """The next version number, from an atomic counter: two trainings never share a number. A
        tenant registered before the counter existed starts after its highest stored version."""
        out = self.db.update_item(
            TableName=self.name, Key=self._key(tenant_id, self.COUNTER),
            UpdateExpression="SET #v = if_not_exists(#v, :base) + :one", ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues=serialize({":base": self._highest_version(tenant_id), ":one": 1}),
            ReturnValues="UPDATED_NEW")
        return int(out["Attributes"]["version"]["N"])

    def _highest_version(self, tenant_id: str) -> int:
        row = self.get_row({"tenant_id": tenant_id, "model_id": self.COUNTER}, consistent=True)
        if row is not None:
            return int(row.get("version", 0))  # ignored by if_not_exists; saves the query below
        return max((int(v.get("version", 0)) for v in self.versions(tenant_id)), default=0)

    def mark_promoting(self, tenant_id: str, model_id: str, now: float) -> None:
        """Shields a servable version from retention while it is being made live; ConflictError when
        it is not servable any more (failed, training, or its artefact was deleted)."""
        codes = self.transact([{"Update": {
            "TableName": self.name, "Key": self._key(tenant_id, model_id), "UpdateExpression": "SET promoting_at = :n",
            "ConditionExpression": "attribute_exists(model_id) AND #s IN (:a, :b, :c) AND "
                                   "attribute_not_exists(artefact_deleted) AND attribute_exists(artefact)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": serialize({":n": now, ":a": SERVABLE[0], ":b": SERVABLE[1],
                                                    ":c": SERVABLE[2]})}}])
        if codes is not None:
            raise ConflictError(f"model {model_id!r} cannot be made live (not servable, or its artefact was deleted)")

    def swap_live(self, tenant_id: str, model_id: str, expected: str | None, now: float, fields: dict,
                  retire: bool) -> None:
        """In one transaction: LIVE names `model_id` only if it still names `expected` (none: no LIVE
        row yet); the version gets `fields` (status live) if it is still servable; the `expected`
        version, when `retire`, becomes retired. LiveChangedError when another promotion won."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":f{i}": v for i, v in enumerate(fields.values())}
        pointer = {"TableName": self.name, "Key": self._key(tenant_id, self.LIVE),
                   "UpdateExpression": "SET live_model_id = :m, updated_at = :n",
                   "ConditionExpression": "attribute_not_exists(model_id)" if expected is None
                   else "live_model_id = :e",
                   "ExpressionAttributeValues": serialize({":m": model_id, ":n": now,
                                                           **({} if expected is None else {":e": expected})})}
        version = {"TableName": self.name, "Key": self._key(tenant_id, model_id),
                   "UpdateExpression": "SET " + ", ".join(f"{n} = :f{i}" for i, n in enumerate(names))
                                       + " REMOVE promoting_at",
                   "ConditionExpression": "attribute_exists(model_id) AND attribute_not_exists(artefact_deleted)",
                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": serialize(values)}
        items = [{"Update": pointer}, {"Update": version}]
        if retire and expected is not None:
            items.append({"Update": {
                "TableName": self.name, "Key": self._key(tenant_id, expected),
                "UpdateExpression": "SET #s = :r, retired_at = :n", "ConditionExpression": "attribute_exists(model_id)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": serialize({":r": "retired", ":n": now})}})
        codes = self.transact(items)
        if codes is None:
            return
        if codes[0] == "ConditionalCheckFailed":
            raise LiveChangedError(f"the live model of {tenant_id!r} changed meanwhile")
        raise ConflictError(f"model {model_id!r} cannot be made live (its artefact was deleted meanwhile)")

    def mark_artefact_deleted(self, tenant_id: str, model_id: str, now: float) -> bool:
        """Marks the version's artefact deleted, only if it is not live (the LIVE pointer names another
        version), not being promoted, and deletable; False (nothing written) otherwise. The caller
        deletes the S3 objects after this succeeds, so a promotion can never point at them."""
        codes = self.transact([
            {"ConditionCheck": {"TableName": self.name, "Key": self._key(tenant_id, self.LIVE),
                                "ConditionExpression": "attribute_not_exists(model_id) OR live_model_id <> :v",
                                "ExpressionAttributeValues": serialize({":v": model_id})}},
            {"Update": {"TableName": self.name, "Key": self._key(tenant_id, model_id),
                        "UpdateExpression": "SET artefact_deleted = :t, deleted_at = :n REMOVE artefact",
                        "ConditionExpression": "attribute_exists(model_id) AND #s IN (:a, :b, :c) AND "
                                               "attribute_not_exists(artefact_deleted) AND "
                                               "(attribute_not_exists(promoting_at) OR promoting_at < :stale)",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": serialize({":t": True, ":n": now, ":a": DELETABLE[0],
                                                                ":b": DELETABLE[1], ":c": DELETABLE[2],
                                                                ":stale": now - PROMOTION_GRACE_S})}}])
        return codes is None
