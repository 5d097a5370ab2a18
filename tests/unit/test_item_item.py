"""The EASE item-item model, the ALS+EASE blend and per-tenant tuning."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.engine.ease import EaseParams, ease_scores, fit_ease, gram
from recengine.engine.model import RecommenderModel, TrainParams, train_model
from recengine.engine.als import ALSParams
from recengine.engine.sparse import CSR
from recengine.engine.tuning import holdout, ndcg_at_10
from tests.unit.test_engine import block_of, planted_blocks


def small_matrix(seed=0, users=40, items=12) -> CSR:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.35).astype(float)
    r, c = np.nonzero(dense)
    return CSR.from_coo(r, c, np.ones(r.size), (users, items))


def test_gram_is_x_transpose_x_over_kept_items():
    m = small_matrix()
    dense = np.zeros(m.shape)
    dense[m.row_ids(), m.indices] = 1
    kept = np.array([0, 3, 5, 11])
    np.testing.assert_allclose(gram(m, kept), dense[:, kept].T @ dense[:, kept])


def test_unpruned_ease_equals_the_closed_form():
    m = small_matrix()
    dense = np.zeros(m.shape)
    dense[m.row_ids(), m.indices] = 1
    g = dense.T @ dense
    l2, kappa = 5.0, 0.3
    p = np.linalg.inv(g + np.diag(l2 + kappa * np.diag(g)))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0)
    b = fit_ease(m, EaseParams(l2=l2, kappa=kappa, min_count=1, top_k=1000))
    got = np.zeros(m.shape[::-1][:1] * 2)
    got[b.row_ids(), b.indices] = b.data
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_pruning_keeps_the_largest_weights_per_item_and_drops_rare_items():
    m = small_matrix(users=60, items=20)
    b = fit_ease(m, EaseParams(l2=5.0, min_count=1, top_k=4))
    assert np.all(np.diff(b.indptr) <= 4)
    counts = np.bincount(m.indices, minlength=20)
    rare = int(np.argmin(counts))
    pruned = fit_ease(m, EaseParams(l2=5.0, min_count=int(counts[rare]) + 1, top_k=4))
    assert pruned.row(rare)[0].size == 0 and rare not in set(pruned.indices.tolist())


def test_ease_scores_sum_the_history_rows():
    b = CSR.from_coo(np.array([0, 0, 2]), np.array([1, 2, 1]), np.array([0.5, 0.25, 2.0]), (3, 3))
    assert ease_scores(b, np.array([0, 2])).tolist() == [0.0, 2.5, 0.25]
    assert ease_scores(b, np.array([1])).tolist() == [0.0, 0.0, 0.0]
    assert ease_scores(b, np.array([0]), np.array([2.0])).tolist() == [0.0, 1.0, 0.5]


def test_holdout_hides_a_fifth_of_each_eligible_user_deterministically():
    m = small_matrix(users=30, items=40)
    train, held = holdout(m, seed=3)
    again, held_again = holdout(m, seed=3)
    assert held.keys() == held_again.keys() and all(np.array_equal(held[u], held_again[u]) for u in held)
    for u, items in held.items():
        total = m.indptr[u + 1] - m.indptr[u]
        assert items.size == max(1, round(0.2 * total))
        assert not set(items) & set(train.row(u)[0])
    assert train.nnz + sum(v.size for v in held.values()) == m.nnz


def test_ndcg_counts_binary_gains_and_skips_seen_items():
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    assert ndcg_at_10(scores, np.array([0]), np.array([1])) == pytest.approx(1.0)
    assert ndcg_at_10(scores, np.array([], dtype=int), np.array([1])) == pytest.approx(1 / np.log2(3))


@pytest.fixture(scope="module")
def hybrid() -> RecommenderModel:
    params = TrainParams(als=ALSParams(factors=8, regularization=1.0, iterations=8),
                         ease=EaseParams(l2=5.0, min_count=1), w_ease=0.5)
    return train_model(planted_blocks(), "model_hybrid-v1_test", params)


def test_the_hybrid_model_follows_the_planted_taste(hybrid):
    data = planted_blocks()
    history = [i for u, i in zip(data.user_ids, data.item_ids) if u == "u5"]  # block 2
    ranked = hybrid.recommend(history, [1.0] * len(history), 5)
    assert hybrid.meta["algorithm"] == "hybrid-als-ease" and hybrid.blend.w_ease == 0.5
    assert all(block_of(i) == 2 for i, _ in ranked.items) and not set(history) & {i for i, _ in ranked.items}


def test_hybrid_candidates_score_like_the_full_ranking(hybrid):
    full = dict(hybrid.recommend(["i0", "i2"], [1.0, 1.0], 58).items)
    ranked = hybrid.recommend(["i0", "i2"], [1.0, 1.0], 5, candidates=["i30", "i5", "i45"])
    for item, score in ranked.items:
        assert score == pytest.approx(full[item], rel=1e-5, abs=1e-6)


def test_hybrid_round_trip_and_annoy_path_agree(hybrid, tmp_path):
    hybrid.save(tmp_path / "m")
    exact = RecommenderModel.load(tmp_path / "m")
    approx = RecommenderModel.load(tmp_path / "m", exact_limit=0)
    assert exact.blend == hybrid.blend and exact.ease.nnz == hybrid.ease.nnz
    history = ["i21", "i25", "i30"]
    want = hybrid.recommend(history, [1.0] * 3, 10).items
    again = exact.recommend(history, [1.0] * 3, 10).items
    assert [i for i, _ in again] == [i for i, _ in want]
    assert [s for _, s in again] == pytest.approx([s for _, s in want], rel=1e-5)
    got = {i for i, _ in approx.recommend(history, [1.0] * 3, 10).items}
    assert len(got & {i for i, _ in want}) >= 8


def test_training_without_params_tunes_on_a_validation_split():
    model = train_model(planted_blocks(n_users=250), "model_auto-v1_test", tune_budget_s=5)
    tuning = model.meta["tuning"]
    assert tuning["validation_users"] == 250 and 0 < tuning["best_ndcg@10"] <= 1
    assert model.meta["params"]["als"]["factors"] > 0


def test_too_little_validation_data_keeps_the_defaults():
    from recengine.engine.tuning import ALS_GRID

    model = train_model(planted_blocks(n_users=60), "model_auto-v1_small")
    assert "defaults used" in model.meta["tuning"]["skipped"]
    assert model.meta["params"]["als"]["factors"] == ALS_GRID[0].factors and model.meta["algorithm"] == "als"


def test_gram_counts_heavy_users_with_dense_products_identically(monkeypatch):
    import recengine.engine.ease as ease_module

    m = small_matrix(users=50, items=30)
    kept = np.arange(30)
    light = gram(m, kept)
    monkeypatch.setattr(ease_module, "_HEAVY_USER", 3)  # almost every user takes the dense path
    monkeypatch.setattr(ease_module, "_HEAVY_BLOCK", 4)
    np.testing.assert_array_equal(gram(m, kept), light)
