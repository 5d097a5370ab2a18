"""A tenant's training data as Parquet under `exports/<tenant>/<job>/` in the model bucket: what
the Spark trainer reads (docs/adr/0009-emr-serverless-training-data.md). Written by the EMR job's
driver before it trains (pyarrow is too large for a Lambda beside the engine layer); the bucket's
lifecycle rule expires old exports."""

from __future__ import annotations

import io
import json
from typing import Any, Iterable

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import LazyClient
from ..errors import StoreError

EVENT_COLUMNS = ("user_id", "item_id", "weight", "ts", "type", "context")
ITEM_COLUMNS = ("item_id", "active", "metadata")
SUMMARY = "_export.json"  # written last: its presence means the export is complete


def export_prefix(tenant_id: str, job_id: str) -> str:
    return f"exports/{tenant_id}/{job_id}/"


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, default=str) if value else None


def event_table(rows: Iterable[dict]) -> Any:
    """Event rows (InteractionStore.tenant_events) as an Arrow table of EVENT_COLUMNS; a context
    (a small dict) is kept as its JSON text."""
    import pyarrow as pa

    rows = list(rows)
    return pa.table({
        "user_id": pa.array([str(r["user_id"]) for r in rows], pa.string()),
        "item_id": pa.array([str(r["item_id"]) for r in rows], pa.string()),
        "weight": pa.array([float(r["weight"]) for r in rows], pa.float64()),
        "ts": pa.array([float(r.get("ts", 0.0)) for r in rows], pa.float64()),
        "type": pa.array([r.get("type") for r in rows], pa.string()),
        "context": pa.array([_json_or_none(r.get("context")) for r in rows], pa.string()),
    })


def item_table(rows: Iterable[dict]) -> Any:
    """Catalogue rows (ItemStore.iter_items) as an Arrow table of ITEM_COLUMNS (metadata as JSON text)."""
    import pyarrow as pa

    rows = list(rows)
    return pa.table({
        "item_id": pa.array([str(r["item_id"]) for r in rows], pa.string()),
        "active": pa.array([bool(r.get("active", True)) for r in rows], pa.bool_()),
        "metadata": pa.array([json.dumps(r.get("metadata") or {}, sort_keys=True, default=str) for r in rows],
                             pa.string()),
    })


class ExportStore:
    """Parquet parts and the export's summary in the model bucket."""

    s3 = LazyClient("s3")

    def __init__(self, bucket: str, s3: Any = None):
        self.bucket = bucket
        self._s3 = s3

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _put(self, key: str, body: bytes) -> str:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        except ClientError as exc:
            raise StoreError(f"export write failed ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"export write failed ({type(exc).__name__})") from exc
        return self.uri(key)

    def write_parquet(self, key: str, table: Any) -> str:
        """One Parquet file (zstd) at `key`; its s3:// location."""
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        return self._put(key, buffer.getvalue())

    def write_summary(self, prefix: str, summary: dict) -> str:
        return self._put(prefix + SUMMARY, json.dumps(summary, sort_keys=True).encode())

    def read_summary(self, prefix: str) -> dict | None:
        """The export's summary, or None when the export is absent or incomplete."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=prefix + SUMMARY)["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise StoreError(f"export read failed ({exc.response['Error']['Code']})") from exc
        with body:
            return json.loads(body.read())
