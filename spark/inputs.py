"""Reading the job's inputs into Spark: interaction events (Parquet, or a ratings file as `make eval`
reads it), the optional catalogue, and the integer codes MLlib and the artefact need.

Events have the columns the DynamoDB export writes: user_id, item_id, weight (default 1.0), ts
(epoch seconds, default 0). Each event gets `seq`, its position in the input (the Lambda's
"arrival" order: ties in time are broken by it), fixed once by caching the coded events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

EVENT_COLUMNS = ("user_id", "item_id", "weight", "ts")


def _is_parquet(path: str) -> bool:
    """A Parquet file or directory (local or s3://); anything else is read as a ratings file."""
    if path.startswith(("s3://", "s3a://")) or path.endswith(".parquet"):
        return True
    return Path(path).is_dir()


def ratings_table(path: str | Path) -> pa.Table:
    """A ratings file as `make eval` reads it (tools.evaluation.loaders): its positives (rating >= 4,
    one per user and item, the latest), weight 1.0, in file order; time 0 without timestamps."""
    from tools.evaluation.loaders import load_ratings
    from tools.evaluation.protocol import positives

    data = positives(load_ratings(path))
    ts = data.timestamps if data.timestamps is not None else np.zeros(len(data))
    return events_table(data.users, data.items, data.weights, ts)


def events_table(users, items, weights, timestamps) -> pa.Table:
    """Parallel arrays as an events table in the export's schema."""
    return pa.table({"user_id": pa.array(np.asarray(users).astype(str).tolist(), pa.string()),
                     "item_id": pa.array(np.asarray(items).astype(str).tolist(), pa.string()),
                     "weight": pa.array(np.asarray(weights, dtype=np.float64)),
                     "ts": pa.array(np.asarray(timestamps, dtype=np.float64))})


def read_events(spark: SparkSession, path: str) -> DataFrame:
    """Events with the export's columns and `seq` (input order)."""
    if _is_parquet(path):
        df = spark.read.parquet(path)
    else:
        df = spark.createDataFrame(ratings_table(path))
    cols = set(df.columns)
    missing = {"user_id", "item_id"} - cols
    if missing:
        raise ValueError(f"events at {path} lack the columns {sorted(missing)}")
    weight = F.col("weight").cast("double") if "weight" in cols else F.lit(1.0)
    ts = F.col("ts").cast("double") if "ts" in cols else F.lit(0.0)
    return (df.select(F.col("user_id").cast("string").alias("user_id"), F.col("item_id").cast("string").alias("item_id"),
                      F.coalesce(weight, F.lit(1.0)).alias("weight"), F.coalesce(ts, F.lit(0.0)).alias("ts"))
            .where(F.col("user_id").isNotNull() & F.col("item_id").isNotNull())
            .withColumn("seq", F.monotonically_increasing_id()))


def read_items(spark: SparkSession, path: str | None) -> list[dict] | None:
    """Catalogue rows {item_id, active, metadata} (Parquet or JSON Lines; metadata a JSON string or a
    struct/map). Collected on the driver: the content vectors and the snapshot need every row."""
    if not path:
        return None
    df = spark.read.parquet(path) if _is_parquet(path) else spark.read.json(path)
    if "item_id" not in df.columns:
        raise ValueError(f"items at {path} lack the column item_id")
    rows = []
    for row in df.toArrow().to_pylist():
        metadata: Any = row.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        elif isinstance(metadata, list):  # a Parquet map arrives as (key, value) pairs
            metadata = dict(metadata)
        active = row.get("active")
        rows.append({"item_id": str(row["item_id"]), "active": True if active is None else bool(active),
                     "metadata": metadata})
    return rows


@dataclass(frozen=True)
class Coded:
    """Events with integer codes: `events` has user_id, item_id, weight, ts, seq, u (user code), i (item
    code); `items` is the artefact's item list (sorted: the Lambda's np.unique order), catalogue
    items without events included."""

    events: DataFrame
    items: np.ndarray  # str
    n_users: int


def code_events(spark: SparkSession, events: DataFrame, catalogue_ids: list[str]) -> Coded:
    """Integer codes: items by their sorted position (as train_model orders them), users in any fixed
    order (users are not part of the artefact; MLlib only needs integers)."""
    event_items = events.select("item_id").distinct().toArrow().column(0).to_pylist()
    items = np.unique(np.asarray(list(event_items) + list(catalogue_ids), dtype=str))
    item_codes = spark.createDataFrame(pa.table({"item_id": pa.array(items.tolist(), pa.string()),
                                                 "i": pa.array(np.arange(items.size, dtype=np.int32))}))
    users = events.select("user_id").distinct().rdd.map(lambda r: r[0]).zipWithIndex() \
        .toDF(T.StructType([T.StructField("user_id", T.StringType()), T.StructField("u", T.LongType())]))
    coded = (events.join(F.broadcast(item_codes), "item_id")
             .join(users, "user_id")
             .withColumn("u", F.col("u").cast("int")))
    coded = coded.persist()
    n_users = coded.select("u").distinct().count()
    return Coded(coded, items, n_users)
