"""The EMR projection's arithmetic on the recorded local runs: what it scales, and what it bills."""

from __future__ import annotations

import json

import pytest

from bench import emr_projection as proj


@pytest.fixture
def model():
    return proj.rates(json.loads(proj.RUNS.read_text())["runs"])


def test_the_rates_come_from_the_largest_run_and_the_slope_between_the_runs(model):
    runs = sorted(json.loads(proj.RUNS.read_text())["runs"], key=lambda r: r["interactions"])
    large = runs[-1]
    distributed = sum(large["stages_s"][s] for s in proj.DISTRIBUTED)
    assert model["core_s_per_event"] == pytest.approx(distributed * large["cores"] / large["interactions"])
    assert model["driver_s"] == pytest.approx(large["wall_s"] - distributed)
    assert model["jvm_fixed_gb"] + model["jvm_gb_per_event"] * runs[0]["interactions"] == \
        pytest.approx(runs[0]["peak_rss_gb"]["jvm"])


def test_more_events_take_longer_and_more_executors_or_efficiency_take_less(model):
    base = proj.project(100e6, 7, 0.7, model)
    assert proj.project(1e9, 7, 0.7, model)["wall_s"] > base["wall_s"]
    assert proj.project(100e6, 14, 0.7, model)["wall_s"] < base["wall_s"]
    assert proj.project(100e6, 7, 0.9, model)["wall_s"] < base["wall_s"]


def test_the_cost_is_every_worker_held_for_the_whole_run_at_the_stated_prices(model):
    row = proj.project(100e6, 7, 0.7, model)
    assert (row["vcpu"], row["memory_gb"]) == (32, 128) and row["within_default_ceiling"]
    hourly = 32 * proj.VCPU_HOUR + 128 * proj.GB_HOUR
    assert row["cost_usd"] == pytest.approx(row["wall_s"] / 3600 * hourly, abs=0.01)


def test_executors_grow_when_the_data_does_not_fit_their_memory(model):
    row = proj.project(1e9, 1, 0.7, model)
    assert row["executors"] * proj.WORKER_GB * proj.USABLE >= row["data_memory_gb"]
    assert not row["within_default_ceiling"]
