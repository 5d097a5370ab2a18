"""Job rows (training, batch generation) in the models table, beside the versions of the tenant
they belong to (`model_id = job#<job id>`), with what bounds them: one lock row per tenant and kind
of job (`lock#<kind>`, naming the job that holds it) and daily counters (`quota#<kind>#<day>`).
Every transition is conditional on the state it moves from."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import NotFoundError


class JobStore(Table):
    PREFIX = "job#"
    LOCK = "lock#"
    QUOTA = "quota#"
    QUOTA_TTL_S = 3 * 86400

    def _job_key(self, tenant_id: str, job_id: str) -> dict:
        return serialize({"tenant_id": tenant_id, "model_id": self.PREFIX + job_id})

    def _quota_key(self, tenant_id: str, kind: str, day: str) -> dict:
        return serialize({"tenant_id": tenant_id, "model_id": f"{self.QUOTA}{kind}#{day}"})

    def put_job(self, tenant_id: str, job: dict) -> None:
        self.put_row({**job, "tenant_id": tenant_id, "model_id": self.PREFIX + job["job_id"]})

    def get_job(self, tenant_id: str, job_id: str) -> dict | None:
        row = self.get_row({"tenant_id": tenant_id, "model_id": self.PREFIX + job_id}, consistent=True)
        if row:
            row.pop("model_id", None)
        return row

    def update_job(self, tenant_id: str, job_id: str, fields: dict) -> None:
        """Sets fields on an existing job row (a None value removes the field); NotFoundError if none."""
        key = {"tenant_id": tenant_id, "model_id": self.PREFIX + job_id}
        if not self.update_fields(key, fields, exists="model_id"):
            raise NotFoundError(f"job {job_id!r} not found")

    def transition(self, tenant_id: str, job_id: str, expected: tuple[str, ...], fields: dict) -> bool:
        """Sets `fields` only if the job's status is one of `expected`: of two runners racing for one
        job (an at-least-once redelivery), one moves it and the other learns it lost. False when the
        status was not expected (nothing written)."""
        names = {"#s": "status", **{f"#f{i}": k for i, k in enumerate(fields)}}
        values = {**{f":e{i}": v for i, v in enumerate(expected)},
                  **{f":f{i}": v for i, v in enumerate(fields.values())}}
        try:
            self.db.update_item(
                TableName=self.name, Key=self._job_key(tenant_id, job_id),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression=f"#s IN ({', '.join(f':e{i}' for i in range(len(expected)))})",
                ExpressionAttributeNames=names, ExpressionAttributeValues=serialize(values))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True

    # ------------------------------------------------------------------ one job of a kind at a time
    def acquire_lock(self, tenant_id: str, kind: str, job_id: str, now: float) -> str | None:
        """Takes the tenant's lock for `kind` for `job_id` if nobody holds it; else returns the job id
        of the holder (nothing written)."""
        key = {"tenant_id": tenant_id, "model_id": self.LOCK + kind}
        try:
            self.db.put_item(TableName=self.name, Item=serialize({**key, "job_id": job_id, "locked_at": now}),
                             ConditionExpression="attribute_not_exists(model_id)")
            return None
        except ClientError as exc:
            if not conditional_failure(exc):
                raise store_error("put_item", exc) from exc
        row = self.get_row(key, consistent=True)
        return row["job_id"] if row else ""  # "" : released meanwhile, try again

    def replace_lock(self, tenant_id: str, kind: str, job_id: str, holder: str, now: float) -> bool:
        """Takes over a lock still held by `holder` (a job that has finished or died); False if the
        lock moved on meanwhile."""
        item = {"tenant_id": tenant_id, "model_id": self.LOCK + kind, "job_id": job_id, "locked_at": now}
        try:
            self.db.put_item(TableName=self.name, Item=serialize(item),
                             ConditionExpression="attribute_not_exists(model_id) OR job_id = :h",
                             ExpressionAttributeValues=serialize({":h": holder}))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("put_item", exc) from exc
        return True

    def release_lock(self, tenant_id: str, kind: str, job_id: str) -> bool:
        """Releases the lock if `job_id` still holds it (a late runner never frees another job's lock)."""
        try:
            self.db.delete_item(TableName=self.name,
                                Key=serialize({"tenant_id": tenant_id, "model_id": self.LOCK + kind}),
                                ConditionExpression="job_id = :j", ExpressionAttributeValues=serialize({":j": job_id}))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("delete_item", exc) from exc
        return True

    def lock_holder(self, tenant_id: str, kind: str) -> str | None:
        row = self.get_row({"tenant_id": tenant_id, "model_id": self.LOCK + kind}, consistent=True)
        return row["job_id"] if row else None

    # ------------------------------------------------------------------ daily quotas
    def count_daily(self, tenant_id: str, kind: str, day: str, limit: int, now: float) -> bool:
        """Counts one job of `kind` on `day` if fewer than `limit` were counted; False (nothing
        counted) when the day's quota is used up."""
        try:
            self.db.update_item(
                TableName=self.name, Key=self._quota_key(tenant_id, kind, day),
                UpdateExpression="ADD #c :one SET expires_at = :x",
                ConditionExpression="attribute_not_exists(#c) OR #c < :l",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues=serialize({":one": 1, ":l": limit, ":x": int(now) + self.QUOTA_TTL_S}))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True

    def uncount_daily(self, tenant_id: str, kind: str, day: str) -> None:
        """Gives back a counted job that could not be started."""
        try:
            self.db.update_item(
                TableName=self.name, Key=self._quota_key(tenant_id, kind, day), UpdateExpression="ADD #c :n",
                ConditionExpression="attribute_exists(#c)", ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues=serialize({":n": -1}))
        except ClientError as exc:
            if not conditional_failure(exc):
                raise store_error("update_item", exc) from exc

    def daily_count(self, tenant_id: str, kind: str, day: str) -> int:
        row = self.get_row({"tenant_id": tenant_id, "model_id": f"{self.QUOTA}{kind}#{day}"}, consistent=True)
        return int(row.get("count", 0)) if row else 0

    def update_job_if_unchanged(self, tenant_id: str, job_id: str, fields: dict, *, status: str,
                                progress_at: float | None, done_chunks: int | None) -> bool:
        """Writes `fields` only if the row still has this status, this heartbeat (None: none) and
        this many finished chunks (None: none); False when it has moved on meanwhile."""
        names = {"#s": "status", **{f"#f{i}": k for i, k in enumerate(fields)}}
        values: dict[str, Any] = {":s": status, **{f":f{i}": v for i, v in enumerate(fields.values())}}
        conditions = ["#s = :s"]
        if progress_at is None:
            conditions.append("attribute_not_exists(progress_at)")
        else:
            conditions.append("progress_at = :p")
            values[":p"] = progress_at
        if done_chunks:
            conditions.append("size(done_chunks) = :n")
            values[":n"] = done_chunks
        else:
            conditions.append("attribute_not_exists(done_chunks)")
        try:
            self.db.update_item(
                TableName=self.name, Key=serialize({"tenant_id": tenant_id, "model_id": self.PREFIX + job_id}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression=" AND ".join(conditions), ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True

    def jobs(self, tenant_id: str, kind: str) -> list[dict]:
        """The tenant's job rows of one kind (one query on the tenant's partition)."""
        rows = self.query_rows(
            KeyConditionExpression="tenant_id = :t AND begins_with(model_id, :j)", FilterExpression="#k = :k",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues=serialize({":t": tenant_id, ":j": self.PREFIX, ":k": kind}))
        return [{k: v for k, v in row.items() if k != "model_id"} for row in rows]

    def mark_chunk_done(self, tenant_id: str, job_id: str, chunk: int) -> int:
        """Adds the chunk to the job's set of finished chunks (idempotent); returns the set's size."""
        try:
            out = self.db.update_item(
                TableName=self.name, Key=serialize({"tenant_id": tenant_id, "model_id": self.PREFIX + job_id}),
                UpdateExpression="ADD done_chunks :c", ConditionExpression="attribute_exists(model_id)",
                ExpressionAttributeValues={":c": {"NS": [str(chunk)]}}, ReturnValues="UPDATED_NEW")
        except ClientError as exc:
            if conditional_failure(exc):
                raise NotFoundError(f"job {job_id!r} not found") from exc
            raise store_error("update_item", exc) from exc
        return len(out["Attributes"]["done_chunks"]["NS"])

    def finish(self, tenant_id: str, job_id: str, expected: tuple[str, ...], fields: dict) -> bool:
        """`transition`, where a None value removes the field in the same write (a user erasure's
        job forgets the user id as it succeeds). False when the status was not expected."""
        sets = {k: v for k, v in fields.items() if v is not None}
        removed = [k for k, v in fields.items() if v is None]
        names = {"#s": "status", **{f"#f{i}": k for i, k in enumerate(sets)},
                 **{f"#r{i}": k for i, k in enumerate(removed)}}
        values = {**{f":e{i}": v for i, v in enumerate(expected)}, **{f":f{i}": v for i, v in enumerate(sets.values())}}
        parts = ["SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(sets)))] if sets else []
        if removed:
            parts.append("REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed))))
        expression = " ".join(parts)
        try:
            self.db.update_item(
                TableName=self.name, Key=self._job_key(tenant_id, job_id), UpdateExpression=expression,
                ConditionExpression=f"#s IN ({', '.join(f':e{i}' for i in range(len(expected)))})",
                ExpressionAttributeNames=names, ExpressionAttributeValues=serialize(values))
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True
