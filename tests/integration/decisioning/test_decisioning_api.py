"""The decisioning routes through their handlers on moto: CRUD of rules, policies, flows, routing and
experiments, tenant isolation, validation (422 problem+json), references, limits and roles; and the
service functions the recommend path calls (resolve_flow, active experiment, assignment log)."""

from __future__ import annotations

import pytest

from recengine.decisioning import service
from recengine.runtime import runtime

RULE = {"name": "loan for likely borrowers", "target": {"offer_ids": ["loan"]}, "priority": 5,
        "conditions": [{"field": "propensity", "op": "gte", "value": 0.5}]}
POLICY = {"name": "cooldown after purchase", "kind": "cooldown", "outcome_type": "purchase", "hours": 72}
EXPERIMENT = {"name": "nba vs model", "variants": {"control": {"weight": 1},
                                                    "nba": {"weight": 1, "flow_key": "email-nba"}}}
SPLIT = {"name": "model versions", "variants": {"live": {"weight": 90},
                                               "candidate": {"weight": 10, "model_id": "model_v2"}}}
COLLECTIONS = [("/v1/decisioning/rules", "rule_id", RULE, "rules"),
               ("/v1/decisioning/policies", "policy_id", POLICY, "policies"),
               ("/v1/experiments", "experiment_id", SPLIT, "experiments")]


@pytest.fixture
def acme(aws):
    return aws.tenant("acme")


@pytest.fixture
def other(aws):
    return aws.tenant("other")


def flow(api, caller, key="email-nba", **fields):
    body = {"key": key, "name": key, "ranker": "propensity_value", **fields}
    status, _, created = api("POST", "/v1/decisioning/flows", caller=caller, body=body)
    assert status == 201, created
    return created


@pytest.mark.parametrize("path,id_name,body,plural", COLLECTIONS)
def test_crud_round_trip(api, acme, path, id_name, body, plural):
    status, _, created = api("POST", path, caller=acme, body=body)
    assert status == 201, created
    object_id = created[id_name]
    status, _, listed = api("GET", path, caller=acme)
    assert status == 200 and [o[id_name] for o in listed[plural]] == [object_id]
    status, _, got = api("GET", f"{path}/{{{id_name}}}", caller=acme, path_params={id_name: object_id})
    assert status == 200 and got["name"] == body["name"]
    status, _, replaced = api("PUT", f"{path}/{{{id_name}}}", caller=acme, path_params={id_name: object_id},
                              body={**body, "name": "renamed", "enabled": False})
    assert status == 200 and replaced["name"] == "renamed" and replaced["enabled"] is False
    assert replaced[id_name] == object_id
    status, _, _ = api("DELETE", f"{path}/{{{id_name}}}", caller=acme, path_params={id_name: object_id})
    assert status == 204
    status, _, gone = api("GET", f"{path}/{{{id_name}}}", caller=acme, path_params={id_name: object_id})
    assert status == 404 and gone["type"] == "/problems/not-found"


@pytest.mark.parametrize("path,id_name,body,plural", COLLECTIONS)
def test_another_tenants_ids_are_not_found(api, acme, other, path, id_name, body, plural):
    _, _, created = api("POST", path, caller=acme, body=body)
    params = {id_name: created[id_name]}
    for method in ("GET", "DELETE"):
        status, _, problem = api(method, f"{path}/{{{id_name}}}", caller=other, path_params=params)
        assert status == 404, (method, problem)
    status, _, _ = api("PUT", f"{path}/{{{id_name}}}", caller=other, path_params=params, body=body)
    assert status == 404
    assert api("GET", path, caller=other)[2][plural] == []
    assert api("GET", f"{path}/{{{id_name}}}", caller=acme, path_params=params)[0] == 200


@pytest.mark.parametrize("path,body,field", [
    ("/v1/decisioning/rules", {**RULE, "effect": "maybe"}, "effect"),
    ("/v1/decisioning/rules", {**RULE, "conditions": [{"field": "propensity", "op": "gte"}]}, "conditions.0"),
    ("/v1/decisioning/rules", {**RULE, "unknown": 1}, "unknown"),
    ("/v1/decisioning/policies", {"name": "cap", "kind": "frequency_cap", "max_impressions": 3}, "(body)"),
    ("/v1/decisioning/policies", {**POLICY, "outcome_type": "teleport"}, "outcome_type"),
    ("/v1/experiments", {**EXPERIMENT, "variants": {"control": {"weight": 1}}}, "variants"),
    ("/v1/experiments", {**EXPERIMENT, "variants": {"a b": {"weight": 1}, "c": {"weight": 1}}}, "variants"),
    ("/v1/decisioning/rules", {**RULE, "conditions": [{"field": "x", "op": "gt", "value": 1e40}]}, "(body)"),
    ("/v1/decisioning/flows", {"key": "bad key!", "name": "x"}, "key"),
])
def test_invalid_bodies_are_422_problems_naming_the_field(api, acme, path, body, field):
    status, headers, problem = api("POST", path, caller=acme, body=body)
    assert status == 422 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/validation-error"
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem["errors"]


def test_a_rule_expression_is_bounded(api, acme):
    conditions = [{"field": "category", "op": "in", "value": [f"c{i}-" + "x" * 40 for i in range(100)]}] * 3
    status, _, problem = api("POST", "/v1/decisioning/rules", caller=acme, body={**RULE, "conditions": conditions})
    assert status == 422 and "bytes" in problem["errors"][0]["message"]
    too_many = [{"field": "price", "op": "gt", "value": 1}] * 21
    assert api("POST", "/v1/decisioning/rules", caller=acme, body={**RULE, "conditions": too_many})[0] == 422


def test_the_number_of_objects_per_tenant_is_bounded(api, acme, other, monkeypatch):
    monkeypatch.setitem(service.LIMITS, "policy", 2)
    for _ in range(2):
        assert api("POST", "/v1/decisioning/policies", caller=acme, body=POLICY)[0] == 201
    status, _, problem = api("POST", "/v1/decisioning/policies", caller=acme, body=POLICY)
    assert status == 409 and problem["type"] == "/problems/conflict" and "at most 2" in problem["detail"]
    assert api("POST", "/v1/decisioning/policies", caller=other, body=POLICY)[0] == 201  # per tenant


def test_writes_need_an_admin_key_and_reads_a_read_key(api, acme):
    reader = acme.as_role("read")
    status, _, problem = api("POST", "/v1/decisioning/rules", caller=reader, body=RULE)
    assert status == 403 and problem["type"] == "/problems/insufficient-scope"
    assert api("GET", "/v1/decisioning/rules", caller=reader)[0] == 200
    assert api("PUT", "/v1/decisioning/routing", caller=acme.as_role("write"), body={"routes": []})[0] == 403


def test_flows_name_existing_rules_and_policies_and_keys_are_unique(api, acme):
    status, _, problem = api("POST", "/v1/decisioning/flows", caller=acme,
                             body={"key": "f", "name": "f", "rule_ids": ["rule_missing"]})
    assert status == 409 and "rule_missing" in problem["detail"]
    rule_id = api("POST", "/v1/decisioning/rules", caller=acme, body=RULE)[2]["rule_id"]
    created = flow(api, acme, rule_ids=[rule_id], max_per_category=2, limit=3)
    assert created["rule_ids"] == [rule_id] and created["source"] == {"kind": "model"}
    assert api("POST", "/v1/decisioning/flows", caller=acme, body={"key": "email-nba", "name": "again"})[0] == 409
    status, _, replaced = api("PUT", "/v1/decisioning/flows/{flow_key}", caller=acme,
                              path_params={"flow_key": "email-nba"}, body={"name": "renamed", "ranker": "priority"})
    assert status == 200 and replaced["key"] == "email-nba" and replaced["ranker"] == "priority"


def test_flows_are_per_tenant_and_deleted_by_key(api, acme, other):
    flow(api, acme)
    params = {"flow_key": "email-nba"}
    assert api("GET", "/v1/decisioning/flows/{flow_key}", caller=other, path_params=params)[0] == 404
    assert api("DELETE", "/v1/decisioning/flows/{flow_key}", caller=other, path_params=params)[0] == 404
    assert api("GET", "/v1/decisioning/flows", caller=other)[2]["flows"] == []
    flow(api, other)  # the same key in another tenant is another flow
    assert api("DELETE", "/v1/decisioning/flows/{flow_key}", caller=acme, path_params=params)[0] == 204
    assert api("GET", "/v1/decisioning/flows/{flow_key}", caller=other, path_params=params)[0] == 200


def test_routing_rules_resolve_a_flow_per_channel_and_placement(api, acme, other):
    flow(api, acme, "email-nba")
    flow(api, acme, "hero")
    routes = [{"channel": "email", "flow_key": "email-nba"}, {"placement": "hero_banner", "flow_key": "hero"}]
    status, _, body = api("PUT", "/v1/decisioning/routing", caller=acme, body={"routes": routes})
    assert status == 200 and body["routes"] == routes
    assert api("GET", "/v1/decisioning/routing", caller=acme)[2]["routes"] == routes
    assert api("GET", "/v1/decisioning/routing", caller=other)[2]["routes"] == []
    status, _, problem = api("PUT", "/v1/decisioning/routing", caller=other, body={"routes": routes})
    assert status == 409 and "email-nba" in problem["detail"]  # another tenant's flows do not exist for it
    store = runtime().decisioning
    assert service.resolve_flow(store, acme.tenant_id, None, "email", "hero_banner").key == "hero"
    assert service.resolve_flow(store, acme.tenant_id, None, "email", None).key == "email-nba"
    assert service.resolve_flow(store, acme.tenant_id, "hero", "email", None).key == "hero"
    assert service.resolve_flow(store, acme.tenant_id, None, "sms", None) is None
    assert service.resolve_flow(store, other.tenant_id, None, "email", None) is None
    with pytest.raises(service.NotFoundError):
        service.resolve_flow(store, other.tenant_id, "hero", None, None)


def test_a_flows_rules_and_policies_are_read_for_the_recommend_path(api, acme):
    rule_id = api("POST", "/v1/decisioning/rules", caller=acme, body=RULE)[2]["rule_id"]
    policy_id = api("POST", "/v1/decisioning/policies", caller=acme, body=POLICY)[2]["policy_id"]
    flow(api, acme, rule_ids=[rule_id], policy_ids=[policy_id])
    store = runtime().decisioning
    resolved = service.resolve_flow(store, acme.tenant_id, "email-nba", None, None)
    assert [r.rule_id for r in service.flow_rules(store, acme.tenant_id, resolved)] == [rule_id]
    assert [p.policy_id for p in service.flow_policies(store, acme.tenant_id, resolved)] == [policy_id]


def test_experiment_variants_are_keyed_by_name_and_their_order_moves_nobody(api, acme):
    status, _, created = api("POST", "/v1/experiments", caller=acme, body=SPLIT)
    assert status == 201 and created["variants"] == SPLIT["variants"]
    reordered = {**SPLIT, "variants": dict(reversed(list(SPLIT["variants"].items())))}
    again = api("POST", "/v1/experiments", caller=acme, body=reordered)[2]
    store = runtime().decisioning
    first, second = (service.get(store, acme.tenant_id, "experiment", e["experiment_id"]).value
                     for e in (created, again))
    from dataclasses import replace

    from recengine.decisioning.experiments import assign

    second = replace(second, experiment_id=first.experiment_id)
    assert all(assign(first, f"k{n}") == assign(second, f"k{n}") for n in range(200))


def test_experiments_split_stably_and_log_their_assignments(api, acme, other):
    status, _, problem = api("POST", "/v1/experiments", caller=acme, body=EXPERIMENT)
    assert status == 409 and "email-nba" in problem["detail"]  # the variant's flow must exist
    flow(api, acme)
    status, _, created = api("POST", "/v1/experiments", caller=acme, body={**EXPERIMENT, "channel": "email"})
    assert status == 201 and created["experiment_id"].startswith("exp_")
    store, rt = runtime().decisioning, runtime()
    experiment = service.active_experiment(store, acme.tenant_id, "email", "hero")
    assert experiment is not None and experiment.experiment_id == created["experiment_id"]
    assert service.active_experiment(store, acme.tenant_id, "web", None) is None
    assert service.active_experiment(store, other.tenant_id, "email", None) is None
    key = rt.pseudonyms.user_key(acme.tenant_id, "customer-1", None)
    first = service.assign_and_log(rt.assignments, acme.tenant_id, experiment, key, "req-1", now=1_800_000_000.0)
    again = service.assign_and_log(rt.assignments, acme.tenant_id, experiment, key, "req-2", now=1_800_000_060.0)
    assert first.variant == again.variant
    logged = list(service.export_assignments(rt.assignments, acme.tenant_id))
    assert logged == [first.record] and logged[0]["schema"] == "assignment.v1"
    # the assignment sits in the customer's exposure partition but never reads as an exposure
    assert rt.exposures.recent(acme.tenant_id, key, 0.0) == []
    assert list(rt.exposures.tenant_exposures(acme.tenant_id)) == []


def test_answers_match_the_documented_response_models(api, acme):
    from recengine.decisioning import responses

    rule = api("POST", "/v1/decisioning/rules", caller=acme, body={
        **RULE, "conditions": [{"field": "tier", "op": "in", "value": ["gold"], "when": {"segments": ["vip"]}}]})[2]
    responses.RuleView.model_validate(rule)
    responses.PolicyView.model_validate(api("POST", "/v1/decisioning/policies", caller=acme, body=POLICY)[2])
    responses.FlowView.model_validate(flow(api, acme, rule_ids=[rule["rule_id"]],
                                           source={"kind": "offers", "offer_ids": ["a"]}))
    responses.ExperimentView.model_validate(api("POST", "/v1/experiments", caller=acme, body=EXPERIMENT)[2])
    for path, model in (("/v1/decisioning/rules", responses.RuleList),
                        ("/v1/decisioning/policies", responses.PolicyList),
                        ("/v1/decisioning/flows", responses.FlowList), ("/v1/experiments", responses.ExperimentList),
                        ("/v1/decisioning/routing", responses.RoutingView)):
        model.model_validate(api("GET", path, caller=acme)[2])


def test_documented_numbers_round_trip_exactly_and_odd_ids_are_404(api, acme):
    exact = {**RULE, "conditions": [{"field": "price", "op": "gt", "value": 10 ** 37 + 1},
                                    {"field": "ratio", "op": "lt", "value": 1.2345678901234567e-130}]}
    status, _, created = api("POST", "/v1/decisioning/rules", caller=acme, body=exact)
    assert status == 201 and [c["value"] for c in created["conditions"]] == [10 ** 37 + 1, 1.2345678901234567e-130]
    got = api("GET", "/v1/decisioning/rules/{rule_id}", caller=acme, path_params={"rule_id": created["rule_id"]})[2]
    assert [c["value"] for c in got["conditions"]] == [10 ** 37 + 1, 1.2345678901234567e-130]
    tiny = {"name": "split", "variants": {"a": {"weight": 5e-324}, "b": {"weight": 5e-324}}}
    assert api("POST", "/v1/experiments", caller=acme, body=tiny)[0] == 201
    for odd in ("x" * 2000, "a b", "ü"):
        for method in ("GET", "DELETE"):
            status, _, _ = api(method, "/v1/decisioning/rules/{rule_id}", caller=acme, path_params={"rule_id": odd})
            assert status == 404, (method, odd)
        status, _, _ = api("PUT", "/v1/decisioning/flows/{flow_key}", caller=acme, path_params={"flow_key": odd},
                           body={"name": "n"})
        assert status == 404
    with pytest.raises(service.NotFoundError):
        service.resolve_flow(runtime().decisioning, acme.tenant_id, "x" * 2000, None, None)
