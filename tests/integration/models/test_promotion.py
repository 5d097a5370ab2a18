"""Registry and promotion guard, retention, rollback, pinned versions, hot swap, corrupt artefacts
and popularity before the first model: given a tenant's versions, when a model is trained or
served, then the right version answers."""

from __future__ import annotations

import boto3
import pytest

from recengine.engine.training import TrainingData
from recengine.models import training
from recengine.runtime import runtime
from recengine.models.evaluation import split_holdout
from recengine.models.promotion import promotion_decision
from recengine.models.training import TrainingPolicy
from recengine.runtime import Runtime
from recengine.settings import Settings
from tests.conftest import settings_env
from tests.integration.conftest import seed_tenant, train
from tests.tampering import replace_file

def fixed_metrics(monkeypatch, *values):
    """Each training's holdout evaluation returns the next (recall@20, ndcg@10)."""
    seq = iter(values)

    def evaluate(model, holdout, algorithm="hybrid"):
        recall, ndcg = next(seq)
        return {"recall@20": recall, "ndcg@10": ndcg, "coverage@20": 0.5, "eval_users": holdout.users}

    monkeypatch.setattr(training, "evaluate_on_holdout", evaluate)


@pytest.fixture
def tenant(aws, api):
    caller = aws.tenant("shop")
    data = seed_tenant(api, caller)
    return caller, data


# ------------------------------------------------------------------ evaluation
def test_the_holdout_is_each_users_most_recent_fifth():
    users = ["u1"] * 10 + ["u2"] * 3
    items = [f"i{n}" for n in range(10)] + ["a", "b", "c"]
    data = TrainingData(users, items, [1.0] * 13, [float(t) for t in range(10)] + [0.0, 1.0, 2.0])
    holdout = split_holdout(data)
    assert holdout.users == 1 and holdout.hidden == [{"i8", "i9"}] and holdout.held_events == 2
    assert holdout.histories[0][0] == [f"i{n}" for n in range(8)]
    assert len(holdout.train) == 11 and "i9" not in holdout.train.item_ids  # u2 (< 5 events) stays whole


def test_the_first_model_is_evaluated_on_a_holdout_and_goes_live(tenant):
    caller, _ = tenant
    record = train(caller, params=None)
    assert record["status"] == "live" and record["model_id"].startswith("model_hybrid-v1_")
    metrics = record["metrics"]
    assert {"recall@20", "ndcg@10", "coverage@20", "train_s", "interactions", "users", "items"} <= set(metrics)
    assert metrics["eval_users"] > 0 and 0 < metrics["recall@20"] <= 1 and 0 < metrics["coverage@20"] <= 1
    assert runtime().registry.live_model_id(caller.tenant_id) == record["model_id"]


# ------------------------------------------------------------------ the promotion guard
@pytest.mark.parametrize("live,candidate,promoted", [
    ((0.30, 0.20), (0.40, 0.25), True),     # better
    ((0.30, 0.20), (0.297, 0.197), True),   # worse, but within 2 %
    ((0.30, 0.20), (0.30, 0.19), False),    # ndcg 5 % worse
    ((0.30, 0.20), (0.25, 0.20), False),    # recall worse
])
def test_promotion_decision(live, candidate, promoted):
    as_record = lambda m: {"metrics": {"recall@20": m[0], "ndcg@10": m[1]}}  # noqa: E731
    ok, reason = promotion_decision(as_record(candidate), as_record(live), 0.02)
    assert ok is promoted and reason


def test_a_better_candidate_goes_live_and_the_old_live_is_retired(tenant, monkeypatch):
    caller, _ = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.35, 0.22))
    first, second = train(caller), train(caller)
    registry = runtime().registry
    assert second["status"] == "live" and registry.live_model_id(caller.tenant_id) == second["model_id"]
    assert registry.get_version(caller.tenant_id, first["model_id"])["status"] == "retired"
    assert second["replaced_model_id"] == first["model_id"] and second["version"] == 2


def test_a_candidate_equal_within_tolerance_goes_live(tenant, monkeypatch):
    caller, _ = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.295, 0.197))
    train(caller)
    assert train(caller)["status"] == "live"


def test_a_worse_candidate_stays_candidate_and_the_log_says_why(tenant, monkeypatch):
    caller, _ = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.20, 0.10))
    warnings = []
    monkeypatch.setattr(training.logger, "warning", lambda msg, **kw: warnings.append((msg, kw.get("extra", {}))))
    first, second = train(caller), train(caller)
    registry = runtime().registry
    assert second["status"] == "candidate" and registry.live_model_id(caller.tenant_id) == first["model_id"]
    assert "below the live model" in registry.get_version(caller.tenant_id, second["model_id"])["promotion_reason"]
    assert [(m, e["model_id"]) for m, e in warnings] == [("model stays candidate", second["model_id"])]
    assert "recall@20" in warnings[0][1]["reason"]


def test_the_tolerance_is_configurable(tenant, monkeypatch):
    caller, _ = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.27, 0.18))
    train(caller)
    assert train(caller, policy=TrainingPolicy(tolerance=0.15))["status"] == "live"
    configured = Settings.from_env(settings_env(PROMOTION_TOLERANCE="0.1", KEEP_MODEL_VERSIONS="3"))
    assert Runtime(configured).training_policy == TrainingPolicy(0.1, 3)
    with pytest.raises(RuntimeError):
        Settings.from_env(settings_env(PROMOTION_TOLERANCE="2"))


def test_a_failed_training_is_recorded_and_live_keeps_serving(tenant, monkeypatch):
    caller, _ = tenant
    first = train(caller)

    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(training, "train_model", broken)
    with pytest.raises(MemoryError):
        train(caller)
    rows = runtime().registry.versions(caller.tenant_id)
    assert [r["status"] for r in rows] == ["live", "failed"] and rows[1]["error"] == "MemoryError"
    assert runtime().registry.live_model_id(caller.tenant_id) == first["model_id"]


# ------------------------------------------------------------------ retention
def test_only_the_last_versions_keep_their_artefacts(tenant, monkeypatch):
    caller, _ = tenant
    c = runtime()
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.50, 0.40), (0.10, 0.10), (0.10, 0.10))  # v2 live, v3 v4 candidates
    records = [train(caller, policy=TrainingPolicy(keep_versions=2)) for _ in range(4)]
    s3 = boto3.client("s3")

    def objects(model_id):
        prefix = f"tenants/{caller.tenant_id}/models/{model_id}/"
        return s3.list_objects_v2(Bucket=c.artefacts.bucket, Prefix=prefix).get("KeyCount", 0)

    rows = {r["model_id"]: r for r in c.registry.versions(caller.tenant_id)}
    v1, v2, v3, v4 = (r["model_id"] for r in records)
    assert objects(v1) == 0 and rows[v1]["artefact_deleted"] is True and "artefact" not in rows[v1]
    assert objects(v2) > 0 and not rows[v2].get("artefact_deleted")  # older than the last two, but live
    assert objects(v3) > 0 and objects(v4) > 0
    assert c.registry.live_model_id(caller.tenant_id) == v2


# ------------------------------------------------------------------ promote / rollback / pin through the API
def test_rollback_makes_the_previous_version_live_again(tenant, api, monkeypatch):
    caller, _ = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.35, 0.22))
    first, second = train(caller), train(caller)
    status, _, body = api("POST", "/v1/models/{model_id}/rollback", caller=caller,
                          path_params={"model_id": second["model_id"]})
    assert status == 200 and body["model_id"] == first["model_id"] and body["status"] == "live"
    _, _, listed = api("GET", "/v1/models", caller=caller)
    assert listed["live_model_id"] == first["model_id"]
    assert [(m["model_id"], m["status"]) for m in listed["models"]] == [(second["model_id"], "retired"),
                                                                       (first["model_id"], "live")]
    status, _, problem = api("POST", "/v1/models/{model_id}/rollback", caller=caller,
                             path_params={"model_id": second["model_id"]})
    assert status == 409 and problem["type"] == "/problems/conflict"


def test_an_operator_promotes_a_candidate(tenant, api, monkeypatch):
    caller, _ = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.10, 0.10))
    first, second = train(caller), train(caller)
    assert second["status"] == "candidate"
    status, _, body = api("POST", "/v1/models/{model_id}/promote", caller=caller,
                          path_params={"model_id": second["model_id"]})
    assert status == 200 and body["status"] == "live" and body["live"] is True
    assert runtime().registry.get_version(caller.tenant_id, first["model_id"])["status"] == "retired"
    status, _, problem = api("POST", "/v1/models/{model_id}/promote", caller=caller,
                             path_params={"model_id": "model_hybrid-v9_nope"})
    assert status == 404 and problem["type"] == "/problems/model-not-found"


def test_a_request_can_pin_a_model_version(tenant, api, monkeypatch):
    caller, data = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.35, 0.22))
    first, second = train(caller), train(caller)
    user = next(iter(data.user_tastes))
    _, _, live = api("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
    assert live["meta"]["model_id"] == second["model_id"]
    status, _, pinned = api("POST", "/v1/recommend", caller=caller,
                            body={"user_id": user, "limit": 5, "model_id": first["model_id"]})
    assert status == 200 and pinned["meta"]["model_id"] == first["model_id"] and len(pinned["items"]) == 5
    status, _, similar = api("POST", "/v1/similar", caller=caller,
                             body={"item_id": data.interactions[0]["item_id"], "model_id": first["model_id"]})
    assert status == 200 and similar["model_id"] == first["model_id"]
    status, _, problem = api("POST", "/v1/recommend", caller=caller,
                             body={"user_id": user, "model_id": "model_hybrid-v7_unknown"})
    assert status == 404 and problem["type"] == "/problems/model-not-found"


# ------------------------------------------------------------------ hot swap and faults
class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def settled(models) -> None:
    """Waits for the live-version checks running beside requests (models.serving, stale-while-revalidate)."""
    import time

    deadline = time.monotonic() + 30
    while models._revalidating and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not models._revalidating


def test_after_promotion_the_new_model_serves_once_the_check_due_past_the_ttl_has_run(tenant, api, monkeypatch):
    """The live version is re-checked beside the first request past the TTL (which answers at once with
    the version it holds, adding no round trip): from the request after it, the promoted one serves."""
    caller, data = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.10, 0.10))
    clock = Clock()
    monkeypatch.setattr(runtime().models, "clock", clock)
    first, second = train(caller), train(caller)  # the second stays candidate
    user = next(iter(data.user_tastes))
    ask = lambda **extra: api("POST", "/v1/recommend", caller=caller, body={"user_id": user, **extra})[2]["meta"]  # noqa: E731
    assert ask()["model_id"] == first["model_id"]
    assert api("POST", "/v1/models/{model_id}/promote", caller=caller,
               path_params={"model_id": second["model_id"]})[0] == 200
    clock.now += 30  # within the 60 s TTL: the cached version still answers
    assert ask()["model_id"] == first["model_id"]
    clock.now += 31
    assert ask()["model_id"] == first["model_id"]  # the request that finds the check due
    settled(runtime().models)
    assert ask()["model_id"] == second["model_id"]
    assert ask(model_id=first["model_id"])["model_id"] == first["model_id"]  # a pinned request keeps the old one


def test_a_corrupt_artefact_is_skipped_and_the_previous_version_keeps_serving(tenant, api, monkeypatch):
    caller, data = tenant
    fixed_metrics(monkeypatch, (0.30, 0.20), (0.10, 0.10))
    first, second = train(caller), train(caller)
    user = next(iter(data.user_tastes))
    _, _, before = api("POST", "/v1/recommend", caller=caller, body={"user_id": user})
    assert before["meta"]["model_id"] == first["model_id"]
    c = runtime()
    replace_file(boto3.client("s3"), c.artefacts.bucket, f"tenants/{caller.tenant_id}/models/{second['model_id']}/",
                 "item_factors.npy", b"\x93NUMPY garbage, not an array")
    api("POST", "/v1/models/{model_id}/promote", caller=caller, path_params={"model_id": second["model_id"]})
    monkeypatch.setattr(c.models, "refresh_s", 0.0)
    status, _, after = api("POST", "/v1/recommend", caller=caller, body={"user_id": user})
    assert status == 200 and after["meta"]["model_id"] == first["model_id"] and after["items"] == before["items"]
    status, _, pinned = api("POST", "/v1/recommend", caller=caller, body={"user_id": user, "model_id": second["model_id"]})
    assert status == 200 and pinned["meta"]["model_id"] == first["model_id"]
    assert "pinned_model_unavailable" in {w["code"] for w in pinned["warnings"]}
    # The corrupt copy is not kept on disk, so a re-uploaded artefact is fetched afresh next time.
    assert not c.models.cache_dir.joinpath(caller.tenant_id, second["model_id"]).exists()


# ------------------------------------------------------------------ no model yet
def test_before_the_first_training_popular_items_are_served(tenant, api):
    caller, data = tenant
    user = data.interactions[0]["user_id"]
    status, _, body = api("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
    assert status == 200 and body["warnings"][0]["code"] == "no_model" and body["meta"]["model_id"] is None
    assert len(body["items"]) == 5 and body["meta"]["algorithm"] == "popular"
    consumed = {e["item_id"] for e in data.interactions if e["user_id"] == user}
    assert not consumed & {i["id"] for i in body["items"]}
    assert all(i["reason"].startswith("popular") for i in body["items"])
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    counts: dict[str, float] = {}
    for e in data.interactions:
        counts[e["item_id"]] = counts.get(e["item_id"], 0) + 1
    top_counts = sorted(counts.values(), reverse=True)
    assert counts[body["items"][0]["id"]] >= top_counts[len(top_counts) // 4]  # from the popular head


def test_popularity_is_computed_once_per_ttl(tenant, api, monkeypatch):
    caller, _ = tenant
    c = runtime()
    calls = []
    original = c.interactions.recent_tenant_events
    monkeypatch.setattr(c.interactions, "recent_tenant_events", lambda *a: calls.append(a) or original(*a))
    for _ in range(3):
        api("POST", "/v1/recommend", caller=caller, body={"user_id": "nobody", "limit": 3})
    assert len(calls) == 1 and calls[0][1] <= 2000
