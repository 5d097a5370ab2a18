"""The benchmark's synthetic data: shape, determinism, power-law popularity and taste structure."""

from __future__ import annotations

import numpy as np
import pytest

from bench.synthetic import SyntheticSpec, generate, random_model, sample_histories


@pytest.fixture(scope="module")
def synthetic():
    return generate(SyntheticSpec(n_interactions=40_000, n_items=2_000, n_clusters=8, seed=7))


def test_generator_gives_parallel_arrays_within_the_catalogue(synthetic):
    spec = synthetic.spec
    assert len(synthetic) == 40_000 and spec.users == 2_000
    for arr in (synthetic.user_idx, synthetic.item_idx, synthetic.weights, synthetic.timestamps):
        assert arr.shape == (40_000,)
    assert synthetic.item_idx.min() >= 0 and synthetic.item_idx.max() < spec.n_items
    assert np.unique(synthetic.user_idx).size == spec.users  # every user has an event
    assert np.unique(synthetic.item_idx).size == spec.n_items  # the catalogue is covered
    assert set(np.unique(synthetic.weights).tolist()) <= {1.0, 2.0, 4.0, 6.0, 8.0}
    data = synthetic.training_data()
    assert len(data) == 40_000 and str(data.item_ids[0]).startswith("item-")


def test_generator_is_deterministic_for_a_seed(synthetic):
    again = generate(synthetic.spec)
    np.testing.assert_array_equal(again.item_idx, synthetic.item_idx)
    np.testing.assert_array_equal(again.user_idx, synthetic.user_idx)


def test_item_popularity_follows_a_power_law(synthetic):
    counts = np.sort(np.bincount(synthetic.item_idx, minlength=synthetic.spec.n_items))[::-1]
    ranks = np.arange(5, 500)
    slope = np.polyfit(np.log(ranks + 1), np.log(counts[ranks]), 1)[0]
    assert -1.4 < slope < -0.6  # Zipf exponent 1 in the head
    assert counts[: synthetic.spec.n_items // 100].sum() > 0.15 * len(synthetic)  # top 1% of items


def test_users_concentrate_on_their_taste_clusters(synthetic):
    # Share of a user's events in their primary cluster is far above the cluster's overall share.
    primary = synthetic.user_clusters[synthetic.user_idx, 0]
    in_primary = synthetic.item_cluster[synthetic.item_idx] == primary
    assert in_primary.mean() > 0.5


def test_histories_and_random_model_are_servable(synthetic):
    histories = sample_histories(synthetic, 3, 50)
    assert len(histories) == 3 and all(len(h) == len(w) == 50 for h, w in histories)
    model, clusters = random_model(500, factors=8, n_clusters=4)
    assert model.n_items == 500 and clusters.shape == (500,)
    ranked = model.recommend(histories[0][0][:5] + ["item-1", "item-2"], [1.0] * 7, 5)
    assert len(ranked.items) == 5
