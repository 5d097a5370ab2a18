"""Artefact format 4: sparse content, one cosine forest only above EXACT_LIMIT, older formats still read."""

import json

import numpy as np
import pytest

from recengine.engine.artefact import (ANGULAR_FILE, CONTENT_FILES, DENSE_CONTENT, FORMAT_VERSION, MANIFEST,
                                       load_model, save_model)
from recengine.engine.content import DIM
from recengine.engine.sparse import SparseRows
from recengine.engine.als import ALSParams
from recengine.engine.training import train_model
from tests.unit.engine.planted import planted_blocks
from tests.unit.engine.test_content import catalogue

PARAMS = ALSParams(factors=8, regularization=1.0, iterations=8)


@pytest.fixture(scope="module")
def model():
    return train_model(planted_blocks(skip={"i5", "i25"}, days=30), "model_c", PARAMS, catalogue=catalogue())


def test_sparse_rows_read_like_the_dense_matrix():
    rng = np.random.default_rng(0)
    dense = np.zeros((300, DIM), np.float32)
    mask = rng.random(dense.shape) < 0.05
    dense[mask] = rng.standard_normal(int(mask.sum()))
    dense[7] = 0  # an empty row
    rows = SparseRows.from_dense(dense)
    v = rng.standard_normal(DIM).astype(np.float32)
    pick = np.array([7, 3, 299, 3])
    np.testing.assert_allclose(rows.dot(v), dense @ v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows.dot(v, pick), dense[pick] @ v, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rows[pick], dense[pick])
    np.testing.assert_array_equal(rows[3], dense[3])
    np.testing.assert_array_equal(np.asarray(rows), dense)


def test_format_4_stores_content_sparse_and_no_forest_under_the_limit(model, tmp_path):
    files = save_model(model, tmp_path / "m")
    names = {p.name for p in files}
    assert names == {p.name for p in (tmp_path / "m").iterdir()}  # the upload list is what was written
    assert set(CONTENT_FILES) <= names and DENSE_CONTENT not in names
    assert ANGULAR_FILE not in names and "items_dot.ann" not in names
    assert json.loads((tmp_path / "m" / MANIFEST).read_text())["format_version"] == FORMAT_VERSION == 4
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded.content, SparseRows)
    history = ["i1", "i2", "i30"]
    for algorithm in ("hybrid", "content-based", "collaborative"):
        got = loaded.recommend(history, [1.0, 1.0, 2.0], 10, algorithm=algorithm).items
        want = model.recommend(history, [1.0, 1.0, 2.0], 10, algorithm=algorithm).items
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)
    assert loaded.explain(history, ["i5"], "content-based") == model.explain(history, ["i5"], "content-based")


def test_a_model_without_metadata_stores_no_content(tmp_path):
    plain = train_model(planted_blocks(days=30), "model_p", PARAMS)
    names = {p.name for p in save_model(plain, tmp_path / "m")}
    assert not set(CONTENT_FILES) & names
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.content_idf, plain.content_idf)
    assert loaded.recommend(["i1"], [1.0], 5).items == plain.recommend(["i1"], [1.0], 5).items


def test_the_cosine_forest_is_built_above_the_limit_and_searched(model, tmp_path):
    names = {p.name for p in save_model(model, tmp_path / "m", annoy_above=0)}
    assert ANGULAR_FILE in names
    approx = load_model(tmp_path / "m", exact_limit=0)
    assert approx.index.angular_index is not None and not approx.index.exact
    assert {i for i, _ in approx.similar("i10", 10)} & {i for i, _ in model.similar("i10", 10)}
    (tmp_path / "m" / ANGULAR_FILE).unlink()  # listed by the manifest but gone: an incomplete download
    with pytest.raises(Exception, match="missing files"):
        load_model(tmp_path / "m", exact_limit=0)


def test_format_3_artefacts_still_load(model, tmp_path):
    """Format 3 as it was written: dense content.npy, a manifest without a file list."""
    directory = tmp_path / "m"
    save_model(model, directory)
    for name in CONTENT_FILES:
        (directory / name).unlink()
    np.save(directory / DENSE_CONTENT, np.asarray(model.content, dtype=np.float32))
    manifest = json.loads((directory / MANIFEST).read_text())
    del manifest["files"]
    (directory / MANIFEST).write_text(json.dumps({**manifest, "format_version": 3}))
    loaded = load_model(directory)
    np.testing.assert_allclose(np.asarray(loaded.content), np.asarray(model.content))
    got = loaded.recommend(["i1", "i2"], [1.0, 1.0], 10).items
    assert [i for i, _ in got] == [i for i, _ in model.recommend(["i1", "i2"], [1.0, 1.0], 10).items]
