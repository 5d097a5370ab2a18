"""One local Spark session for tests/spark (a JVM start costs seconds), and the demo tenant's data
as the DynamoDB export would write it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from local.demo import generate
from recengine.events.model import TYPE_WEIGHTS


@pytest.fixture(scope="session")
def spark():
    from spark.train_job import local_session

    session = local_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory) -> tuple[Path, Path, object]:
    """(events Parquet, items Parquet, the demo data) for 300 users and 400 items."""
    data = generate(n_users=300, n_items=400, seed=7)
    root = tmp_path_factory.mktemp("export")
    events = root / "events.parquet"
    ev = data.interactions
    pq.write_table(pa.table({"user_id": [e["user_id"] for e in ev], "item_id": [e["item_id"] for e in ev],
                             "weight": [TYPE_WEIGHTS[e["type"]] for e in ev],
                             "ts": [e["timestamp"] for e in ev]}), events)
    items = root / "items.parquet"
    rows = [{"item_id": i["id"], "active": True,
             "metadata": json.dumps({k: v for k, v in i.items() if k not in ("id", "active")})} for i in data.items]
    pq.write_table(pa.Table.from_pylist(rows), items)
    return events, items, data
