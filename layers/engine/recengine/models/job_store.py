"""Job rows (on-demand training, batch generation) in the models table, beside the versions of
the tenant they belong to (`model_id = job#<job id>`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import NotFoundError


class JobStore(Table):
    PREFIX = "job#"

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
