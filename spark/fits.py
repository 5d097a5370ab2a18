"""The distributed parts of a training: implicit ALS on MLlib, the item-item Gram matrix, popularity
and trending, item counts; and the driver-sized sample that the engine's tuning and score scales
read. Everything else (the EASE solve and pruning, content, the blend) is the engine's own code on
the driver (see model.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recengine.engine.als import ALSFactors, ALSParams
from recengine.engine.ease import EaseParams, gram
from recengine.engine.sparse import CSR
from recengine.engine.training import TRENDING_HALF_LIFE_DAYS

# Interactions whose users' events all go to the driver for tuning and the score scales: tenants
# up to this size are tuned on all of their data (as the Lambda does), larger ones on a seeded
# sample of users. The engine's tune() holds about 100 bytes per interaction.
DRIVER_MAX_EVENTS = 3_000_000
POPULARITY_HALF_LIFE_DAYS = 30.0
# Rows of the Gram matrix per summed record (256 x 8000 floats: 8 MB).
GRAM_BLOCK_ROWS = 256  # popularity_scores' default


def aggregate(events: DataFrame) -> DataFrame:
    """(u, i, w): one row per user and item, weights summed (CSR.from_coo's duplicate rule)."""
    return events.groupBy("u", "i").agg(F.sum("weight").alias("w"))


def item_counts(pairs: DataFrame, n_items: int) -> np.ndarray:
    """Distinct users per item (the column counts of the user x item matrix)."""
    table = pairs.groupBy("i").count().toArrow()
    counts = np.zeros(n_items, dtype=np.int64)
    counts[table.column("i").to_numpy()] = table.column("count").to_numpy()
    return counts


def decayed_popularity(events: DataFrame, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(popularity, trending): engine.popularity.popularity_scores' sums of weight x 0.5^(age / half
    life), age from the newest event, normalised by the top item; computed per item in Spark."""
    t_max = events.agg(F.max("ts")).first()[0] or 0.0
    age = (F.lit(float(t_max)) - F.col("ts")) / 86400.0
    sums = events.groupBy("i").agg(
        F.sum(F.col("weight") * F.pow(F.lit(0.5), age / POPULARITY_HALF_LIFE_DAYS)).alias("p"),
        F.sum(F.col("weight") * F.pow(F.lit(0.5), age / TRENDING_HALF_LIFE_DAYS)).alias("t")).toArrow()
    out = []
    for name in ("p", "t"):
        scores = np.zeros(n_items, dtype=np.float64)
        scores[sums.column("i").to_numpy()] = sums.column(name).to_numpy()
        top = scores.max() if scores.size else 0.0
        out.append((scores / top if top > 0 else scores).astype(np.float32))
    return out[0], out[1]


def driver_sample(events: DataFrame, pairs_count: int, n_items: int, seed: int,
                  max_events: int = DRIVER_MAX_EVENTS) -> CSR:
    """The user x item matrix of a seeded sample of users (every user below `max_events`), rows in
    user-id order as train_model builds them: what tuning and the blend scales read."""
    sample = events
    if pairs_count > max_events:
        share = max_events / pairs_count
        sample = events.where((F.abs(F.xxhash64("user_id", F.lit(seed))) % 1_000_000) < int(share * 1_000_000))
    table = sample.select("user_id", "i", "weight").toArrow()
    users, rows = np.unique(np.asarray(table.column("user_id").to_pylist(), dtype=str), return_inverse=True)
    return CSR.from_coo(rows, table.column("i").to_numpy(), table.column("weight").to_numpy(),
                        (users.size, n_items))


def mllib_regularization(params: ALSParams, pairs_count: int, n_users: int) -> float:
    """MLlib scales regParam by each row's count (ALS-WR); the engine's penalty is flat. The flat
    penalty is matched for a user of average history length, the one serving's fold-in uses."""
    return params.regularization / max(pairs_count / max(n_users, 1), 1.0)


def fit_mllib_als(pairs: DataFrame, params: ALSParams, n_items: int, pairs_count: int, n_users: int,
                  blocks: int) -> ALSFactors:
    """Implicit ALS (Hu, Koren & Volinsky: confidence 1 + alpha w, as the engine) on MLlib; item
    factors in the artefact's item order, zero for items without events (as the engine leaves them)."""
    als = ALS(rank=params.factors, maxIter=params.iterations, implicitPrefs=True, alpha=params.alpha,
              regParam=mllib_regularization(params, pairs_count, n_users), userCol="u", itemCol="i",
              ratingCol="w", seed=params.seed, nonnegative=False, numUserBlocks=blocks, numItemBlocks=blocks,
              coldStartStrategy="nan")
    model = als.fit(pairs)
    table = model.itemFactors.toArrow()
    items = np.zeros((n_items, params.factors), dtype=np.float32)
    values = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    items[table.column("id").to_numpy()] = values.reshape(-1, params.factors).astype(np.float32)
    return ALSFactors(np.zeros((0, params.factors), np.float32), items, params)


def kept_items(counts: np.ndarray, params: EaseParams) -> np.ndarray:
    """engine.ease.kept_items from the item counts alone (its CSR would not fit on the driver)."""
    eligible = np.flatnonzero(counts >= params.min_count)
    if eligible.size > params.max_items:
        eligible = np.sort(eligible[np.argsort(-counts[eligible], kind="stable")[: params.max_items]])
    return eligible


def distributed_gram(pairs: DataFrame, kept: np.ndarray, n_items: int, partitions: int,
                     block_rows: int = GRAM_BLOCK_ROWS) -> np.ndarray:
    """X^T X over the kept items for a binary X: each partition (whole users) counts its users'
    co-occurrences with the engine's own ease.gram; the partial matrices are summed by row block
    (records of block_rows x m floats, not one m x m object per task) across the cluster."""
    kept_b = pairs.sparkSession.sparkContext.broadcast(kept)
    m = kept.size
    starts = list(range(0, m, block_rows))

    def partial(rows):
        # Rows, not Arrow batches: mapInArrow would need pandas on every worker.
        pairs_ = np.fromiter((v for row in rows for v in row), dtype=np.int64).reshape(-1, 2)
        if not len(pairs_):
            return
        local_users, codes = np.unique(pairs_[:, 0], return_inverse=True)
        local = CSR.from_coo(codes, pairs_[:, 1], np.ones(len(pairs_)), (local_users.size, n_items))
        g = gram(local, kept_b.value)
        for lo in starts:
            yield lo, g[lo:lo + block_rows]

    spark = pairs.sparkSession
    kept_df = spark.createDataFrame(pa.table({"i": pa.array(kept.astype(np.int32))}))
    # Only the kept items' pairs are shuffled: the rest cannot add to the Gram matrix.
    blocks = (pairs.select("u", "i").join(F.broadcast(kept_df), "i").select("u", "i")
              .repartition(partitions, "u").rdd.mapPartitions(partial)
              .reduceByKey(np.add, numPartitions=max(1, min(len(starts), partitions))).collect())
    total = np.zeros((m, m), dtype=np.float32)
    for lo, block in blocks:
        total[lo:lo + block.shape[0]] = block
    return total
