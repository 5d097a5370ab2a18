"""Engine contracts: sparse helpers, ALS, fold-in, popularity, ranking, similarity, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recengine.engine.als import ALSParams, _solve_half, fit_als, fold_in
from recengine.engine.errors import ArtefactError, EmptyTrainingSetError
from recengine.engine.index import top_k
from recengine.engine.artefact import load_model, save_model
from recengine.engine.recommender import RecommenderModel
from recengine.engine.training import TrainingData, train_model
from recengine.engine.popularity import popularity_scores
from recengine.engine.sparse import CSR, segment_sum
from tests.unit.engine.planted import block_of, planted_blocks


@pytest.fixture(scope="module")
def model() -> RecommenderModel:
    return train_model(planted_blocks(), "model_als-v1_test", ALSParams(factors=8, regularization=1.0, iterations=10))


def test_csr_sums_duplicates_and_transposes():
    m = CSR.from_coo(np.array([0, 0, 2, 0]), np.array([1, 1, 0, 3]), np.array([1.0, 2.0, 5.0, 1.0]), (3, 4))
    assert m.indptr.tolist() == [0, 2, 2, 3]
    assert m.indices.tolist() == [1, 3, 0]
    assert m.data.tolist() == [3.0, 1.0, 5.0]
    t = m.transpose()
    assert t.shape == (4, 3)
    assert t.row(1)[0].tolist() == [0] and t.row(1)[1].tolist() == [3.0]


def test_segment_sum_gives_zero_for_empty_rows():
    values = np.arange(6, dtype=float).reshape(3, 2)
    out = segment_sum(values, np.array([0, 2, 2, 3]))
    assert out.tolist() == [[2.0, 4.0], [0.0, 0.0], [4.0, 5.0]]


def test_cg_half_step_converges_to_the_exact_least_squares_solution():
    rng = np.random.default_rng(0)
    matrix = CSR.from_coo(rng.integers(0, 20, 200), rng.integers(0, 30, 200), rng.random(200) * 3, (20, 30))
    fixed = rng.standard_normal((30, 5))
    params = ALSParams(factors=5, regularization=0.5, alpha=2.0, cg_steps=30)
    solved = _solve_half(matrix, fixed, np.zeros((20, 5)), params)
    gram = fixed.T @ fixed + 0.5 * np.eye(5)
    for r in range(20):
        cols, vals = matrix.row(r)
        c = 1 + 2.0 * vals
        a = gram + (fixed[cols].T * (c - 1)) @ fixed[cols]
        b = fixed[cols].T @ c
        np.testing.assert_allclose(solved[r], np.linalg.solve(a, b), rtol=1e-5, atol=1e-6)


def test_fold_in_matches_the_training_solution_for_a_user():
    data = planted_blocks()
    items, item_idx = np.unique(np.asarray(data.item_ids), return_inverse=True)
    users, user_idx = np.unique(np.asarray(data.user_ids), return_inverse=True)
    params = ALSParams(factors=6, regularization=1.0, iterations=6, cg_steps=40)
    f = fit_als(CSR.from_coo(user_idx, item_idx, data.weights, (users.size, items.size)), params)
    # One more exact user half-step equals the fold-in of that user's history.
    u = 5
    hist = item_idx[user_idx == u]
    x = fold_in(f.gram(), f.item_factors, hist, np.ones(hist.size), params.alpha)
    again = _solve_half(CSR.from_coo(user_idx, item_idx, data.weights, (users.size, items.size)),
                        f.item_factors, f.user_factors, params)
    np.testing.assert_allclose(x, again[u], rtol=1e-3, atol=1e-4)


def test_training_is_deterministic_for_a_seed():
    a = train_model(planted_blocks(), "a", ALSParams(factors=4, iterations=3))
    b = train_model(planted_blocks(), "b", ALSParams(factors=4, iterations=3))
    np.testing.assert_array_equal(a.item_factors, b.item_factors)


def test_empty_training_set_is_refused():
    with pytest.raises(EmptyTrainingSetError):
        train_model(TrainingData([], [], np.zeros(0), np.zeros(0)), "m")


def test_recommendations_follow_the_planted_taste_and_skip_seen_items(model):
    data = planted_blocks()
    history = [i for u, i in zip(data.user_ids, data.item_ids) if u == "u4"]  # block 1
    ranked = model.recommend(history, [1.0] * len(history), 5)
    assert ranked.source == "hybrid"  # the default algorithm
    assert not set(history) & {i for i, _ in ranked.items}
    assert all(block_of(i) == 1 for i, _ in ranked.items)
    scores = [s for _, s in ranked.items]
    assert scores == sorted(scores, reverse=True)


def test_excluded_items_never_come_back(model):
    ranked = model.recommend(["i0", "i1"], [1.0, 1.0], 5)
    again = model.recommend(["i0", "i1"], [1.0, 1.0], 5, exclude=[i for i, _ in ranked.items])
    assert not {i for i, _ in ranked.items} & {i for i, _ in again.items}


def test_unknown_history_falls_back_to_popularity(model):
    ranked = model.recommend(["never-seen"], [1.0], 4)
    assert ranked.source == "popular" and len(ranked.items) == 4
    assert ranked.items[0][1] == pytest.approx(1.0)


def test_candidates_are_the_only_items_ranked_with_the_same_scores(model):
    full = dict(model.recommend(["i0"], [1.0], 59).items)
    best_in_block = next(iter(full))
    ranked = model.recommend(["i0"], [1.0], 10, candidates=["i30", best_in_block, "i45", "nope", "i0"])
    assert [i for i, _ in ranked.items][0] == best_in_block
    assert {i for i, _ in ranked.items} == {"i30", best_in_block, "i45"}  # unknown and seen dropped
    for item, score in ranked.items:
        assert score == pytest.approx(full[item], abs=1e-5)


def test_similar_items_come_from_the_same_block_and_exclude_the_item(model):
    similar = model.similar("i25", 5)
    assert len(similar) == 5 and "i25" not in {i for i, _ in similar}
    assert all(block_of(i) == 1 for i, _ in similar)
    assert model.similar("unknown", 5) == []


def test_popularity_decays_with_age():
    scores = popularity_scores(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.0, 30 * 86400.0]), 2, 30.0)
    assert scores.tolist() == pytest.approx([0.5, 1.0])


def test_top_k_ignores_minus_infinity():
    assert top_k(np.array([0.1, -np.inf, 0.5, 0.3]), 10).tolist() == [2, 3, 0]


def test_save_load_round_trip_serves_identical_results(model, tmp_path):
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.model_id == model.model_id and loaded.item_ids == model.item_ids
    for got, want in ((loaded.recommend(["i0", "i3"], [1, 2], 7).items, model.recommend(["i0", "i3"], [1, 2], 7).items),
                      (loaded.similar("i7", 5), model.similar("i7", 5))):
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)


def test_annoy_retrieval_agrees_with_exact_scoring(tmp_path):
    data = planted_blocks(n_users=400, n_items=300, blocks=5, per_user=20)
    exact = train_model(data, "m", ALSParams(factors=16, regularization=1.0, iterations=6))
    save_model(exact, tmp_path / "m")
    approx = load_model(tmp_path / "m", exact_limit=0)
    assert not approx.index.exact
    overlap = []
    for u in range(0, 400, 40):
        hist = [i for uu, i in zip(data.user_ids, data.item_ids) if uu == f"u{u}"]
        a = {i for i, _ in approx.recommend(hist, [1.0] * len(hist), 20).items}
        e = {i for i, _ in exact.recommend(hist, [1.0] * len(hist), 20).items}
        overlap.append(len(a & e) / 20)
    assert np.mean(overlap) >= 0.9
    assert {i for i, _ in approx.similar("i10", 10)} & {i for i, _ in exact.similar("i10", 10)}


def test_corrupt_or_incomplete_artefacts_are_rejected(model, tmp_path):
    save_model(model, tmp_path / "m")
    (tmp_path / "m" / "item_factors.npy").write_bytes(b"garbage")
    with pytest.raises(ArtefactError):
        load_model(tmp_path / "m")
    save_model(model, tmp_path / "n")
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text())
    (tmp_path / "n" / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ArtefactError):
        load_model(tmp_path / "n")
    with pytest.raises(ArtefactError):
        load_model(tmp_path / "missing")


def test_als_progress_reports_the_objective_and_it_falls():
    from recengine.engine.als import _loss_sample, sampled_loss

    rng = np.random.default_rng(4)
    n_users, n_items = 60, 40
    u, i = rng.integers(0, n_users, 600), rng.integers(0, n_items, 600)
    matrix = CSR.from_coo(u, i, rng.uniform(1, 3, 600), (n_users, n_items))
    params = ALSParams(factors=8, iterations=6, regularization=0.5)
    seen: list[dict] = []
    factors = fit_als(matrix, params, seen.append)
    losses = [s["loss"] for s in seen]
    assert len(losses) == 6 and losses[-1] < losses[0]
    # The Gram shortcut equals the objective summed item by item.
    dense = np.zeros((n_users, n_items))
    for row in range(n_users):
        cols, vals = matrix.row(row)
        dense[row, cols] = vals
    sample = _loss_sample(matrix, np.random.default_rng(0), size=10)
    x, y = factors.user_factors.astype(np.float64), factors.item_factors.astype(np.float64)
    brute = 0.0
    for row in sample:
        pref, conf = (dense[row] > 0).astype(float), 1.0 + params.alpha * dense[row]
        brute += float(np.sum(conf * (pref - y @ x[row]) ** 2)) + params.regularization * float(x[row] @ x[row])
    assert sampled_loss(matrix, factors.user_factors, factors.item_factors, params, sample) == \
        pytest.approx(brute / sample.size, rel=1e-4)
