"""The EASE item-item model, the ALS+EASE blend and per-tenant tuning."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.engine.als import ALSParams
from recengine.engine.artefact import load_model, save_model
from recengine.engine.ease import EaseParams, ease_scores, fit_ease, gram, prune_inverse, spd_inverse
from recengine.engine.metrics import ndcg_of_scores
from recengine.engine.params import TrainParams
from recengine.engine.recommender import RecommenderModel
from recengine.engine.sparse import CSR
from recengine.engine.training import train_model
from recengine.engine.tuning import POP_NORMS, POP_PENALTIES, TOP_KS, holdout, tune
from tests.unit.engine.planted import block_of, planted_blocks


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


def dense_of(m: CSR) -> np.ndarray:
    out = np.zeros(m.shape)
    out[m.row_ids(), m.indices] = m.data
    return out


def closed_form(m: CSR, l2: float, kappa: float, pop_norm: float, pop_penalty: float) -> np.ndarray:
    """W = D^-a B D^(a-p), B the EASE weights of X D^-a (D: item counts), straight from the definition."""
    x = (dense_of(m) > 0).astype(float)
    counts = x.sum(axis=0)
    xs = x * counts ** -pop_norm
    g = xs.T @ xs
    p = np.linalg.inv(g + np.diag(l2 + kappa * np.diag(g)))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0)
    return b * (counts ** -pop_norm)[:, None] * (counts ** (pop_norm - pop_penalty))[None, :]


def test_spd_inverse_is_in_place_and_matches_numpy():
    rng = np.random.default_rng(4)
    x = (rng.random((90, 37)) < 0.2).astype(np.float32)
    a = x.T @ x + 3.0 * np.eye(37, dtype=np.float32)
    want = np.linalg.inv(a.astype(np.float64))
    work = a.copy()
    got = spd_inverse(work, block=8)  # 37 = 4 blocks of 8 and one of 5
    assert got is work and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_popularity_exponents_give_the_closed_form():
    m = small_matrix(users=60, items=15)
    for a, p in ((0.3, 0.0), (0.0, 0.25), (0.2, 0.1)):
        b = fit_ease(m, EaseParams(l2=4.0, kappa=0.1, min_count=1, top_k=1000, pop_norm=a, pop_penalty=p))
        np.testing.assert_allclose(dense_of(b), closed_form(m, 4.0, 0.1, a, p), rtol=1e-4, atol=1e-6)


def test_the_penalty_is_applied_before_pruning():
    m = small_matrix(users=80, items=20, seed=2)
    k = 4
    full = closed_form(m, 4.0, 0.1, 0.15, 0.3)
    b = fit_ease(m, EaseParams(l2=4.0, kappa=0.1, min_count=1, top_k=k, pop_norm=0.15, pop_penalty=0.3))
    for row in range(20):
        cols, vals = b.row(row)
        assert cols.size == k and np.all(np.diff(cols) > 0)  # sorted CSR rows
        cut = np.sort(np.abs(full[row]))[-k]
        assert set(cols.tolist()) == set(np.flatnonzero(np.abs(full[row]) >= cut).tolist())
        np.testing.assert_allclose(vals, full[row, cols], rtol=1e-4, atol=1e-7)


def test_pruning_one_inverse_at_several_k_gives_nested_top_weights():
    m = small_matrix(users=60, items=16, seed=5)
    kept = np.arange(16)
    g = gram(m, kept)
    counts = np.diag(g).astype(np.float64)
    from recengine.engine.ease import ease_inverse

    params = EaseParams(l2=3.0, kappa=0.0)
    p = ease_inverse(g.copy(), counts, params)
    before = p.copy()
    pruned = prune_inverse(p, kept, counts, 16, 0.0, 0.2, (3, 6))
    np.testing.assert_array_equal(p, before)  # the inverse is left for the next penalty
    for row in range(16):
        small, large = set(pruned[3].row(row)[0].tolist()), set(pruned[6].row(row)[0].tolist())
        assert len(small) == 3 and len(large) == 6 and small < large


def test_ease_fit_keeps_one_gram_sized_array(monkeypatch):
    """The inverse is computed in place: peak numpy memory stays near one n x n float32 array, where
    np.linalg.inv needed ~6 of them (the float64 copy, identity and result)."""
    import tracemalloc

    import recengine.engine.ease as ease_module

    # Panels and buffers small against n^2, as they are at thousands of items (not under test here).
    monkeypatch.setattr(ease_module, "_PAIR_CHUNK", 50_000)
    monkeypatch.setattr(ease_module, "_SWEEP_BLOCK", 64)
    monkeypatch.setattr(ease_module, "_PRUNE_ROWS", 64)
    rng = np.random.default_rng(0)
    users, items = 400, 1200
    r, c = np.nonzero(rng.random((users, items)) < 0.05)
    m = CSR.from_coo(r, c, np.ones(r.size), (users, items))
    tracemalloc.start()
    fit_ease(m, EaseParams(l2=10.0, min_count=1, top_k=50))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * items * items * 4


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
    assert ndcg_of_scores(scores, np.array([0]), np.array([1])) == pytest.approx(1.0)
    assert ndcg_of_scores(scores, np.array([], dtype=int), np.array([1])) == pytest.approx(1 / np.log2(3))


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
    save_model(hybrid, tmp_path / "m")
    exact = load_model(tmp_path / "m")
    approx = load_model(tmp_path / "m", exact_limit=0)
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


def test_tuning_chooses_the_item_item_family_on_validation_within_the_budget():
    data = planted_blocks(n_users=300, n_items=90)
    items, item_idx = np.unique(np.asarray(data.item_ids), return_inverse=True)
    users, user_idx = np.unique(np.asarray(data.user_ids), return_inverse=True)
    matrix = CSR.from_coo(user_idx, item_idx, data.weights, (users.size, items.size))
    params, report = tune(matrix, budget_s=30.0)
    assert report["validation_users"] == 300 and 0 < report["best_ndcg@10"] <= 1
    chosen = report["item_item"]["params"]
    assert chosen["pop_norm"] in POP_NORMS and chosen["pop_penalty"] in POP_PENALTIES
    assert chosen["top_k"] in {min(k, items.size - 1) for k in TOP_KS}
    if params.ease is not None:
        assert params.ease.as_dict() == chosen and params.w_ease > 0
    # No time left after the first candidate: one item-item candidate and the default ALS only.
    _, hurried = tune(matrix, budget_s=0.0)
    assert len({t["ease"]["l2"] for t in hurried["tried"] if "als" not in t}) == 1
    assert len({t["als"]["factors"] for t in hurried["tried"] if "als" in t}) == 1


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
