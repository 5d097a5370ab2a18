"""Content vectors, the algorithm choice, explanations and cold items from metadata."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.engine.als import ALSParams
from recengine.engine.content import DIM, content_matrix, raw_vector, tokens
from recengine.engine.artefact import load_model, save_model
from recengine.engine.recommender import RecommenderModel
from recengine.engine.training import TrainingData, train_model
from tests.unit.engine.planted import planted_blocks


def catalogue(n_items=60, blocks=3) -> dict[str, dict]:
    genres = ("fantasy", "cooking", "history")
    size = n_items // blocks
    return {f"i{i}": {"title": f"{genres[i // size]} volume {i}", "category": genres[i // size],
                      "tags": [genres[i // size], "paperback"]} for i in range(n_items)}


def genre(item: str) -> int:
    return int(item[1:]) // 20


@pytest.fixture(scope="module")
def model() -> RecommenderModel:
    cold = {"i5", "i25", "i45"}  # in the catalogue, never interacted with
    return train_model(planted_blocks(skip=cold, days=30), "model_hybrid-v1_c", ALSParams(factors=8, regularization=1.0, iterations=8),
                       catalogue=catalogue())


def test_tokens_weigh_categories_over_tags_over_words():
    toks = dict(tokens({"category": "Books", "tags": ["Sci-Fi"], "title": "The Long Way Home", "price": 3}))
    assert toks["category:books"] == 2.0 and toks["tag:sci-fi"] == 1.5 and toks["w:long"] == 1.0
    assert "w:the" not in toks


def test_content_vectors_are_unit_and_similar_items_are_close():
    content, idf = content_matrix([{"category": "a", "title": "red fox"}, {"category": "a", "title": "red dog"},
                                   {"category": "b", "title": "blue whale"}, {}])
    assert content.shape == (4, DIM) and idf.shape == (DIM,)
    assert np.allclose(np.linalg.norm(content[:3], axis=1), 1.0) and not content[3].any()
    assert content[0] @ content[1] > content[0] @ content[2]
    assert np.array_equal(raw_vector({"category": "a"}), raw_vector({"category": "a"}))


def test_each_algorithm_ranks_and_labels_its_source(model):
    history = ["i1", "i2", "i3"]
    for algorithm in ("hybrid", "collaborative", "content-based"):
        ranked = model.recommend(history, [1.0] * 3, 5, algorithm=algorithm)
        assert ranked.source == algorithm and len(ranked.items) == 5
        assert all(genre(i) == 0 for i, _ in ranked.items), algorithm
    popular = model.recommend(history, [1.0] * 3, 5, algorithm="popular")
    trending = model.recommend(history, [1.0] * 3, 5, algorithm="trending")
    assert popular.source == "popular" and trending.source == "trending"
    assert not set(history) & {i for i, _ in popular.items}
    with pytest.raises(ValueError):
        model.recommend(history, [1.0] * 3, 5, algorithm="deep-learning")


def test_trending_favours_recent_activity_over_all_time_counts():
    # "old" was popular a month ago; "new" is less popular but all its events are recent.
    users = [f"u{i}" for i in range(30)] + [f"v{i}" for i in range(12)]
    items = ["old"] * 30 + ["new"] * 12
    stamps = np.array([1.7e9] * 30 + [1.7e9 + 30 * 86400] * 12)
    m = train_model(TrainingData(users, items, np.ones(42), stamps), "m", ALSParams(factors=2, iterations=2))
    assert m.recommend([], [], 1, algorithm="popular").items[0][0] == "old"
    assert m.recommend([], [], 1, algorithm="trending").items[0][0] == "new"


def test_cold_catalogue_items_get_vectors_from_their_content(model):
    assert model.meta["cold_items"] == 3
    assert np.linalg.norm(model.item_factors[model.item_index["i25"]]) > 0
    ranked = model.recommend(["i20", "i21", "i22", "i23"], [1.0] * 4, 20, algorithm="content-based")
    assert "i25" in {i for i, _ in ranked.items}
    similar = model.similar("i25", 5)
    assert sum(genre(i) == 1 for i, _ in similar) >= 4


def test_explanations_point_at_a_history_item(model):
    history = ["i1", "i2"]
    ranked = model.recommend(history, [1.0, 1.0], 3)
    anchors = model.explain(history, [i for i, _ in ranked.items], "hybrid")
    assert all(a in history for a in anchors)
    assert model.explain(history, ["i7"], "popular") == [None]


def test_content_survives_save_and_load(model, tmp_path):
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.content, model.content)
    assert loaded.blend == model.blend
    np.testing.assert_allclose(loaded.embed_metadata(catalogue()["i25"]), model.content[model.item_index["i25"]],
                               rtol=1e-5, atol=1e-6)
