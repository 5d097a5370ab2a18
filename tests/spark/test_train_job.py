"""The Spark job on the demo tenant: its artefact loads through the serving path and recommends, and
it is the Lambda trainer's artefact (same manifest, id maps, shapes, popularity, holdout) with ALS
from MLlib of comparable quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recengine.catalogue.snapshot import SNAPSHOT_FILE
from recengine.engine.artefact import MANIFEST, load_model, save_model
from recengine.engine.ease import EaseParams, gram
from recengine.engine.ease import kept_items as engine_kept_items
from recengine.engine.sparse import CSR
from recengine.engine.training import TrainingData
from recengine.events.model import TYPE_WEIGHTS
from recengine.models.training import fit_tenant_model

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

TUNE_BUDGET_S = 0.0  # a time-bounded search tries what the machine has time for: 0 makes both trainers
# take the same first candidates on any machine, so the artefacts can be compared field by field


@pytest.fixture(scope="module")
def spark_artefact(spark, demo_export, tmp_path_factory) -> Path:
    from spark.train_job import run

    events, items, _ = demo_export
    out = tmp_path_factory.mktemp("spark-artefact")
    run(spark, str(events), str(items), str(out), "tenant-a", "model_spark", 0, tune_budget_s=TUNE_BUDGET_S)
    return out


@pytest.fixture(scope="module")
def lambda_artefact(demo_export, tmp_path_factory) -> tuple[Path, dict]:
    """What the Lambda trainer writes for the same events and catalogue, and its metrics."""
    _, _, data = demo_export
    ev = data.interactions
    training = TrainingData([e["user_id"] for e in ev], [e["item_id"] for e in ev],
                            np.array([TYPE_WEIGHTS[e["type"]] for e in ev]), np.array([e["timestamp"] for e in ev]))
    catalogue = {i["id"]: {k: v for k, v in i.items() if k not in ("id", "active")} for i in data.items}
    fitted = fit_tenant_model(training, "model_lambda", tune_budget_s=TUNE_BUDGET_S, catalogue=catalogue)
    out = tmp_path_factory.mktemp("lambda-artefact")
    save_model(fitted.model, out)
    return out, fitted.metrics


def _manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text())


def test_the_artefact_loads_through_the_serving_path_and_recommends(spark_artefact):
    model = load_model(spark_artefact)
    history = ["item-00000", "item-00008", "item-00016"]  # the "books" category
    ranked = model.recommend(history, [1.0, 1.0, 1.0], 10)
    assert ranked.source != "popular" and len(ranked.items) == 10
    assert not set(history) & {item for item, _ in ranked.items}
    assert model.model_id == "model_spark"
    assert (spark_artefact / SNAPSHOT_FILE).exists()  # the catalogue snapshot serving reads items from


def test_the_manifest_has_the_lambda_trainers_fields(spark_artefact, lambda_artefact):
    spark_m, lambda_m = _manifest(spark_artefact), _manifest(lambda_artefact[0])
    assert spark_m.keys() == lambda_m.keys()
    assert spark_m["meta"].keys() == lambda_m["meta"].keys()
    assert spark_m["blend"].keys() == lambda_m["blend"].keys()
    assert spark_m["files"] == lambda_m["files"]
    for key in ("format_version", "n_items", "factors", "alpha"):
        assert spark_m[key] == lambda_m[key]
    for key in ("users", "items", "cold_items", "interactions", "nnz"):
        assert spark_m["meta"][key] == lambda_m["meta"][key]


def test_id_maps_and_array_shapes_equal_the_lambda_trainers(spark_artefact, lambda_artefact):
    lambda_dir = lambda_artefact[0]
    assert json.loads((spark_artefact / "item_ids.json").read_text()) == \
        json.loads((lambda_dir / "item_ids.json").read_text())
    for name in _manifest(lambda_dir)["files"]:
        if name.endswith(".npy") and name not in ("ease_indices.npy", "ease_data.npy", "content_indices.npy",
                                                   "content_data.npy", "context_indices.npy", "context_data.npy"):
            assert np.load(spark_artefact / name).shape == np.load(lambda_dir / name).shape, name


def test_popularity_trending_and_content_equal_the_engines(spark_artefact, lambda_artefact):
    lambda_dir = lambda_artefact[0]
    for name in ("popularity.npy", "trending.npy", "content_indptr.npy", "content_data.npy", "content_idf.npy"):
        np.testing.assert_allclose(np.load(spark_artefact / name), np.load(lambda_dir / name), rtol=1e-5, atol=1e-7,
                                   err_msg=name)


def test_the_holdout_is_the_lambdas_and_quality_is_comparable(spark_artefact, lambda_artefact):
    spark_metrics = json.loads((spark_artefact / "training.json").read_text())["metrics"]
    lambda_metrics = lambda_artefact[1]
    assert spark_metrics["eval_users"] == lambda_metrics["eval_users"]
    assert spark_metrics["holdout_events"] == lambda_metrics["holdout_events"]
    for metric in ("ndcg@10", "recall@20"):
        assert spark_metrics[metric] >= 0.85 * lambda_metrics[metric], (metric, spark_metrics, lambda_metrics)


def test_the_gram_counted_in_spark_equals_the_engines(spark, demo_export):
    from spark.fits import distributed_gram, kept_items

    _, _, data = demo_export
    users, rows = np.unique([e["user_id"] for e in data.interactions], return_inverse=True)
    items, cols = np.unique([e["item_id"] for e in data.interactions], return_inverse=True)
    matrix = CSR.from_coo(rows, cols, np.ones(rows.size), (users.size, items.size))
    params = EaseParams(min_count=5, max_items=120)
    counts = np.bincount(matrix.indices, minlength=items.size)
    kept = kept_items(counts, params)
    assert np.array_equal(kept, engine_kept_items(matrix, params))
    pairs = spark.createDataFrame([(int(u), int(i)) for u, i in zip(matrix.row_ids(), matrix.indices)], "u int, i int")
    np.testing.assert_array_equal(distributed_gram(pairs, kept, items.size, 3), gram(matrix, kept))


def test_a_ratings_file_is_read_as_make_eval_reads_it(spark, tmp_path):
    from spark.inputs import read_events

    path = tmp_path / "ratings.csv"
    path.write_text("user_id,book_id,rating\n1,10,5\n1,11,2\n2,10,4\n2,10,5\n2,12,4\n")
    rows = sorted((r.user_id, r.item_id, r.weight, r.ts) for r in read_events(spark, str(path)).collect())
    assert rows == [("1", "10", 1.0, 0.0), ("2", "10", 1.0, 0.0), ("2", "12", 1.0, 0.0)]  # positives, once each


def test_the_artefact_goes_to_s3_as_the_lambda_writes_it_and_the_serving_cache_fetches_its_pack(
        spark_artefact, tmp_path):
    import boto3
    from moto import mock_aws

    from recengine.models.artefacts import PACK, ArtefactStore
    from spark.train_job import write_artefact

    staged = sorted(path.name for path in spark_artefact.iterdir())
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="models")
        written = write_artefact(spark_artefact, "s3://models/tenants/t/models/m")
        keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="models")["Contents"]}
        fetched = tmp_path / "fetched"
        assert ArtefactStore("models").download_pack("t", "m", fetched, staged, lambda size: None)
    assert written[-1] == MANIFEST and written[-2] == PACK  # every file, the pack, the manifest last
    assert sorted(written) == sorted([*staged, PACK])
    assert keys == {f"tenants/t/models/m/{name}" for name in written}
    assert sorted(path.name for path in fetched.iterdir()) == staged
    model = load_model(fetched)  # what the serving cache loads after its one GET
    assert model.model_id == "model_spark" and model.recommend(["item-00000"], [1.0], 5).source != "popular"
