"""Context-aware ranking: context features, the shrunk log-lifts, the weight chosen on validation,
ranking with the request's context, score contributions and persistence."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from bench.context_lift import ContextSpec, generate
from recengine.engine.als import ALSParams
from recengine.engine.context import ContextModel, ContextParams, context_features
from recengine.engine.errors import ArtefactError
from recengine.engine.artefact import CONTEXT_FILES, FORMAT_VERSION, load_model, save_model
from recengine.engine.metrics import ndcg_at_k, recall_at_k
from recengine.engine.recommender import ALGORITHMS, Blend, RecommenderModel
from recengine.engine.training import TrainingData, train_model

PARAMS = ALSParams(factors=16, regularization=2.0, iterations=8)


def metadata(data: TrainingData) -> dict[str, dict]:
    """Some content for the hybrid's content term (categories unrelated to context)."""
    return {i: {"category": f"c{int(i.split('-')[1]) % 5}"} for i in set(data.item_ids)}


def train(spec: ContextSpec, **kw):
    data, tests = generate(spec).split()
    return train_model(data, "model_hybrid-v1_ctx", PARAMS, catalogue=metadata(data), **kw), data, tests


@pytest.fixture(scope="module")
def planted():
    return train(ContextSpec(n_users=1500, n_items=800, effect=0.3, seed=3))


@pytest.fixture(scope="module")
def control():
    return train(ContextSpec(n_users=1500, n_items=800, effect=0.0, seed=3))


def quality(model: RecommenderModel, tests, algorithm: str, with_context: bool) -> tuple[float, float]:
    hits, ndcg = [], []
    for history, weights, held, context in tests:
        ranked = [i for i, _ in model.recommend(history, weights, 10, algorithm=algorithm,
                                                context=context if with_context else None).items]
        hits.append(recall_at_k(ranked, [held], 10))
        ndcg.append(ndcg_at_k(ranked, [held], 10))
    return float(np.mean(hits)), float(np.mean(ndcg))


# ---------------------------------------------------------------------- features and the lift model
def test_context_features_are_normalised_key_value_strings():
    feats = context_features({"Device_Type": " Mobile ", "x": None, "premium": True, "hour": 13, "score": 13.0,
                              "ratio": 0.3, "nan": float("nan"), "a=b": "c", "tags": ["no"], "k" * 99: "v" * 99})
    assert "device_type=mobile" in feats and "premium=true" in feats and "hour=13" in feats
    assert "score=13" in feats  # an integral float is the same value as the int
    assert "ratio=2^-2" in feats  # continuous values are bucketed by magnitude, not one feature each
    assert not any(f.startswith(("x=", "nan=", "tags=")) for f in feats)
    assert "a_b=c" in feats  # "=" in a key cannot make the key ambiguous
    long = next(f for f in feats if f.startswith("kkk"))
    key, value = long.split("=")
    assert len(key) < 99 and len(value) < 99
    assert context_features(None) == [] and context_features({}) == []
    # Large integers (ids, timestamps) are bucketed too: they would mint a feature per value.
    assert context_features({"ts": 1_700_000_000}) == context_features({"ts": 1_700_000_001})


def toy_events(seed=0, n_items=200, n_events=20_000, boost=0.3):
    """Half the events on device a, half on b; on a, `boost` of them go to items 0-9."""
    rng = np.random.default_rng(seed)
    device = rng.integers(0, 2, n_events)
    items = rng.integers(0, n_items, n_events)
    boosted = (device == 0) & (rng.random(n_events) < boost)
    items[boosted] = rng.integers(0, 10, int(boosted.sum()))
    contexts = [{"device": "ab"[d], "noise": int(x)} for d, x in zip(device, rng.integers(0, 2, n_events))]
    return items, contexts, np.arange(n_events)  # every event its own user: no dedupe


def test_lifts_follow_the_planted_effect_and_noise_keys_are_shrunk_away():
    items, contexts, users = toy_events()
    model = ContextModel.fit(contexts, items, 200, users)
    on_a = model.score({"device": "a"})
    on_b = model.score({"device": "b"})
    assert on_a[:10].min() > 0 and on_b[:10].max() < 0
    # The other items really are rarer on a (their share went to 0-9): smaller, negative lifts.
    a_events = np.array([c["device"] == "a" for c in contexts])
    others = math.log((items[a_events] >= 10).mean() / (items >= 10).mean())
    assert others < on_a[10:].mean() < 0 and abs(on_a[10:]).mean() < on_a[:10].mean()
    # The random key has no over-dispersion: its prior is the strongest and its lifts are gone.
    assert model.score({"noise": 0}).tolist() == [0.0] * 200
    # Shrinkage: a lift is smaller than the raw log ratio of shares, and a rare pair stays near 0.
    raw = math.log((items[a_events] == 3).mean() / (items == 3).mean())
    assert 0 < on_a[3] < raw + 1e-9


def test_a_pair_seen_a_few_times_stays_near_zero():
    items, contexts, users = toy_events(boost=0.0)
    contexts = contexts + [{"device": "rare"}] * 3
    items = np.concatenate([items, [150, 150, 150]])
    model = ContextModel.fit(contexts, items, 200, np.arange(items.size), ContextParams(min_support=3, prior=10.0))
    raw = math.log(1.0 / ((items == 150).mean()))  # the item's share on "rare" is 1
    assert 0 < model.score({"device": "rare"})[150] < 0.25 * raw


def test_min_support_and_max_features_bound_what_is_kept():
    items, contexts, users = toy_events()
    contexts = contexts[:-5] + [{"device": "a", "rare_key": "x"}] * 5
    model = ContextModel.fit(contexts, items, 200, users, ContextParams(min_support=50))
    assert "rare_key=x" not in model.features and "device=a" in model.features
    top = ContextModel.fit(contexts, items, 200, users, ContextParams(min_support=50, max_features=1))
    assert len(top.features) == 1
    sparse = ContextModel.fit(contexts, items, 200, users, ContextParams(top_k=4))
    assert np.diff(sparse.indptr).max() <= 4


def test_scores_are_sparse_sums_over_known_features():
    items, contexts, users = toy_events()
    model = ContextModel.fit(contexts, items, 200, users, ContextParams(prior=5.0))
    assert not model.score(None).any() and not model.score({"device": "never-seen"}).any()
    both = model.score({"device": "a", "noise": 1})
    np.testing.assert_allclose(both, model.score({"device": "a"}) + model.score({"noise": 1}))
    subset = np.array([0, 5, 150, 199])
    np.testing.assert_allclose(model.score({"device": "a", "noise": 1}, subset), both[subset])
    # Rows are stored sorted by item, and only non-negligible lifts are kept.
    for r in range(len(model.features)):
        row = model.indices[model.indptr[r]:model.indptr[r + 1]]
        assert np.all(np.diff(row) > 0)
    assert np.abs(model.data).min() >= ContextParams().min_abs_lift


def test_arrays_round_trip_and_bad_arrays_are_refused():
    items, contexts, users = toy_events()
    model = ContextModel.fit(contexts, items, 200, users)
    a = model.to_arrays()
    again = ContextModel.from_arrays(a["features"], a["indptr"], a["indices"], a["data"], 200)
    np.testing.assert_array_equal(again.score({"device": "a"}), model.score({"device": "a"}))
    with pytest.raises(ArtefactError):
        ContextModel.from_arrays(a["features"], a["indptr"][:-1], a["indices"], a["data"], 200)
    with pytest.raises(ArtefactError):
        ContextModel.from_arrays(a["features"], a["indptr"], a["indices"], a["data"], 5)  # items beyond the model
    with pytest.raises(ArtefactError):
        ContextModel.from_arrays(a["features"], a["indptr"], a["indices"], a["data"][:-1], 200)


# ---------------------------------------------------------------------- ranking with context
def test_context_lifts_ranking_where_context_matters(planted):
    model, _, tests = planted
    assert model.blend.w_context > 0 and model.blend.w_context_popular > 0
    assert model.meta["context"]["validation_events"] >= ContextParams().min_eval_users
    for algorithm in ("hybrid", "popular"):
        hit_without, ndcg_without = quality(model, tests, algorithm, False)
        hit_with, ndcg_with = quality(model, tests, algorithm, True)
        assert hit_with > hit_without and ndcg_with > ndcg_without, algorithm


def test_context_without_an_effect_does_not_make_ranking_worse(control):
    model, _, tests = control
    for algorithm in ("hybrid", "popular"):
        hit_without, ndcg_without = quality(model, tests, algorithm, False)
        hit_with, ndcg_with = quality(model, tests, algorithm, True)
        assert hit_with >= hit_without and ndcg_with >= ndcg_without, algorithm


def test_the_weight_is_measured_on_a_split_the_collaborative_fit_did_not_see(planted):
    model, data, _ = planted
    report = model.meta["context"]
    assert report["held_out_of_fit"] > 0
    # The chosen weight is the best measured one, and it beat 0 there.
    ndcg = {float(w): v for w, v in report["ndcg@10"].items()}
    assert ndcg[model.blend.w_context] == max(ndcg.values()) > ndcg[0.0]


def test_context_moves_only_items_it_knows_and_content_based_ignores_it(planted):
    model, _, tests = planted
    history, weights, _, context = tests[0]
    for algorithm in ALGORITHMS:
        plain = model.recommend(history, weights, 20, algorithm=algorithm)
        same = model.recommend(history, weights, 20, algorithm=algorithm, context={"unknown_key": "x"})
        assert plain.items == same.items
    base = model.recommend(history, weights, 20, algorithm="content-based")
    assert model.recommend(history, weights, 20, algorithm="content-based", context=context).items == base.items
    # With candidates: the same scores as the full ranking.
    full = dict(model.recommend(history, weights, model.n_items, context=context).items)
    cands = list(full)[5:40:3]
    for item, score in model.recommend(history, weights, 10, candidates=cands, context=context).items:
        assert score == pytest.approx(full[item], abs=1e-9)


def test_contributions_add_up_to_the_recommended_score(planted):
    model, _, tests = planted
    history, weights, _, context = tests[1]
    for algorithm in ALGORITHMS:
        for ctx in (None, context):
            for hist in (history, []):
                ranked = model.recommend(hist, [1.0] * len(hist) if not hist else weights, 10,
                                         algorithm=algorithm, context=ctx)
                items = [i for i, _ in ranked.items]
                parts = model.contributions(hist, weights if hist else [], items + ["nope"], algorithm, ctx)
                assert parts[-1] is None
                for (item, score), p in zip(ranked.items, parts):
                    # Personalised scores are float32 products and sums (BLAS may order a subset's
                    # differently from the whole catalogue's): equal to float32 precision.
                    assert p["total"] == pytest.approx(score, rel=1e-6, abs=1e-7)
                    assert p["total"] == pytest.approx(p["collaborative"] + p["content"] + p["context"]
                                                       + p["popularity"], rel=1e-6, abs=1e-7)
                    if ctx is None:
                        assert p["context"] == 0.0
    # The parts are what they say: context carries the lift, popularity the baseline when cold.
    cold = model.contributions([], [], [i for i, _ in model.recommend([], [], 5, context=context).items],
                               "popular", context)
    assert any(p["context"] > 0 for p in cold) and all(p["collaborative"] == 0 for p in cold)
    warm = model.contributions(history, weights, [i for i, _ in model.recommend(history, weights, 5).items])
    assert all(p["collaborative"] != 0 and p["content"] != 0 for p in warm)


def test_large_catalogue_path_adds_the_context_top_items(planted, tmp_path):
    model, _, tests = planted
    save_model(model, tmp_path / "m", n_trees=8)
    approx = load_model(tmp_path / "m", exact_limit=0)
    assert not approx.index.exact
    overlap = []
    for history, weights, _, context in tests[:40]:
        exact = model.recommend(history, weights, 10, context=context).items
        got = approx.recommend(history, weights, 10, context=context).items
        overlap.append(len({i for i, _ in exact} & {i for i, _ in got}) / 10)
        parts = model.contributions(history, weights, [i for i, _ in got], context=context)
        assert [s for _, s in got] == pytest.approx([p["total"] for p in parts], rel=1e-5, abs=1e-6)
    assert np.mean(overlap) >= 0.9


# ---------------------------------------------------------------------- training data and persistence
def test_training_without_context_is_unchanged_and_contexts_must_align():
    data, _ = generate(ContextSpec(n_users=300, n_items=200, seed=1)).split()
    plain = TrainingData(data.user_ids, data.item_ids, data.weights, data.timestamps)  # positional, as before
    model = train_model(plain, "m", PARAMS)
    assert model.context_model is None and model.blend.w_context == 0 and "context" not in model.meta
    none = train_model(replace(plain, contexts=[None] * len(plain)), "m", PARAMS)
    assert none.context_model is None and none.meta["context"]["skipped"]
    np.testing.assert_array_equal(none.item_factors, model.item_factors)
    with pytest.raises(ValueError):
        train_model(replace(plain, contexts=[None]), "m", PARAMS)


def test_save_load_round_trip_keeps_context_and_its_weights(planted, tmp_path):
    model, _, tests = planted
    files = save_model(model, tmp_path / "m")
    assert all(f.exists() for f in files) and {f.name for f in files} >= set(CONTEXT_FILES)
    loaded = load_model(tmp_path / "m")
    assert loaded.blend == model.blend and loaded.context_model.features == model.context_model.features
    for history, weights, _, context in tests[:5]:
        for hist in (history, []):
            w = weights if hist else []
            got = loaded.recommend(hist, w, 10, context=context).items
            want = model.recommend(hist, w, 10, context=context).items
            assert [i for i, _ in got] == [i for i, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)


def test_corrupt_context_arrays_are_rejected(planted, tmp_path):
    model, _, _ = planted
    save_model(model, tmp_path / "m")
    np.save(tmp_path / "m" / "context_indptr.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(ArtefactError):
        load_model(tmp_path / "m")
    save_model(model, tmp_path / "n")
    (tmp_path / "n" / "context_data.npy").unlink()
    with pytest.raises(ArtefactError):
        load_model(tmp_path / "n")


def test_an_artefact_from_before_context_loads_with_default_weights(planted, tmp_path):
    model, _, tests = planted
    save_model(model, tmp_path / "old")
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    old_blend = {k: v for k, v in manifest["blend"].items() if "context" not in k}
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2, "blend": old_blend}))
    for name in CONTEXT_FILES:
        (tmp_path / "old" / name).unlink()
    assert FORMAT_VERSION > 2
    old = load_model(tmp_path / "old")
    assert old.context_model is None
    assert (old.blend.w_context, old.blend.scale_context, old.blend.w_context_popular) == (
        Blend.w_context, Blend.scale_context, Blend.w_context_popular)
    history, weights, _, context = tests[0]
    assert old.recommend(history, weights, 10, context=context).items == old.recommend(history, weights, 10).items
