"""docs/openapi.json is the published contract: it must be what scripts/openapi.py generates from
the code, cover exactly the routes in template.yaml, and describe the bodies the handlers really send."""

from __future__ import annotations

import inspect
import json
import re

import pytest

from local.template import routes
from recengine.http.schemas import Problem
from recengine.ranking import responses
from recengine.ranking.schemas import RECOMMEND_ALIASES
from tests.conftest import ROOT, invoke, load_script

DOC_PATH = ROOT / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
RECOMMEND_BODIES = [("post", "/v1/recommend"), ("post", "/api/v1/recommend"), ("post", "/v1/recommend/validate")]


@pytest.fixture(scope="module")
def script():
    return load_script("openapi")


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(DOC_PATH.read_text())


def operations(doc: dict) -> dict[tuple[str, str], dict]:
    return {(m.upper(), path): op for path, item in doc["paths"].items() for m, op in item.items() if m in METHODS}


# ------------------------------------------------------------------ the file is generated, not edited
def test_the_committed_document_is_a_fresh_generation(script):
    fresh = script.render(script.generate())
    assert DOC_PATH.read_text() == fresh, "docs/openapi.json is stale: run `python scripts/openapi.py`"


def test_generation_is_stable(script):
    assert script.render(script.generate()) == script.render(script.generate())


def test_the_document_is_valid_openapi_3_1(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] == "recengine API"
    urls = [s["url"] for s in doc["servers"]]
    assert urls == ["https://{api_id}.execute-api.{region}.amazonaws.com/api", "http://127.0.0.1:3000"]


# ------------------------------------------------------------------ routes and security match the template
def test_every_template_route_is_documented_and_nothing_else(doc):
    template = {(r.method, r.path) for r in routes()}
    documented = set(operations(doc))
    assert template - documented == set(), "routes missing from docs/openapi.json"
    assert documented - template == set(), "docs/openapi.json has routes template.yaml lacks"


def test_public_routes_need_no_key_and_the_others_take_either_form_of_it(doc):
    ops = operations(doc)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "x-api-key",
                                 "description": schemes["ApiKey"]["description"]}
    assert schemes["BearerKey"]["type"] == "http" and schemes["BearerKey"]["scheme"] == "bearer"
    for route in routes():
        op = ops[(route.method, route.path)]
        if route.api_key_required:
            assert op["security"] == [{"ApiKey": []}, {"BearerKey": []}], route
            assert {"401", "403", "429"} <= set(op["responses"]), route
        elif route.authorizer is not None:  # the portal's: a token (docs/adr/0005-portal-tokens.md)
            takes_keys = route.path.startswith("/api/billing/")  # a token or a key (runtime.key_or_token_api)
            assert op["security"] == [{"PortalToken": []}, *([{"ApiKey": []}, {"BearerKey": []}] if takes_keys
                                                             else [])], route
            assert {"401", "403", "429"} <= set(op["responses"]), route  # 429: the per-token limit
        else:
            assert op["security"] == [], route
            assert "429" in op["responses"], route  # the per-IP limit on unauthenticated routes
            # public; only the portal's sign-in routes answer 401 (wrong credentials, a bad admin token)
            assert ("401" in op["responses"]) == (route.path in ("/api/auth/register", "/api/auth/login",
                                                                 "/auth/v1/token")), route
    assert schemes["PortalToken"]["scheme"] == "bearer" and schemes["PortalToken"]["bearerFormat"] == "JWT"
    assert {(r.method, r.path) for r in routes() if not r.api_key_required and r.authorizer is None} == {
        ("GET", "/health"), ("GET", "/v1/billing/plans"), ("GET", "/api/billing/plans"), ("POST", "/api/auth/register"), ("POST", "/api/auth/login"),
        ("POST", "/auth/v1/token")}


def test_each_keyed_operation_names_its_role_and_above_read_its_403_is_insufficient_scope(doc):
    from recengine.tenancy.roles import ROUTE_ROLES, Role

    ops = operations(doc)
    scope = doc["components"]["responses"]["InsufficientScope"]
    assert "/problems/insufficient-scope" in scope["description"]
    assert list(scope["content"]) == ["application/problem+json"]
    for route in routes():
        op, needed = ops[(route.method, route.path)], ROUTE_ROLES[(route.method, route.path)]
        if not route.api_key_required and route.authorizer is None:
            assert "x-required-role" not in op, route
            continue
        assert op["x-required-role"] == needed.value, route
        if needed is Role.READ:
            assert op["responses"]["403"] == {"$ref": "#/components/responses/Forbidden"}, route
        else:
            assert op["responses"]["403"] == {"$ref": "#/components/responses/InsufficientScope"}, route
            assert f"with the `{needed.value}`" in op["description"] and "insufficient-scope" in op["description"], route


def test_operation_ids_are_unique_and_errors_are_problem_json(doc):
    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids))
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "request_id", "errors"} <= set(problem["properties"])
    for name, response in doc["components"]["responses"].items():
        assert list(response["content"]) == ["application/problem+json"], name
    for (method, path), op in operations(doc).items():
        assert "500" in op["responses"], (method, path)
        if "requestBody" in op:
            assert {"400", "415", "422"} <= set(op["responses"]), (method, path)


# ------------------------------------------------------------------ bodies come from the handlers' models
def test_the_operations_table_names_the_models_the_handlers_parse(script):
    """The table in scripts/openapi.py is hand-kept: check it against each route function's source."""
    seen = {}
    for _function, (namespace, _routes) in script._function_modules().items():
        app = namespace["app"]
        for route in app._static_routes + app._dynamic_routes:
            source = inspect.getsource(route.func)
            body = re.search(r"app\.(?:body|batch)\((\w+)\)", source)  # a batch is parsed entry by entry
            query = re.search(r"app\.query\((\w+)", source)
            seen[(route.method, route.openapi_path)] = (body and body.group(1), query and query.group(1))
    table = {key: (op.body, op.query) for key, op in script.OPERATIONS.items()}
    assert seen == table


def test_request_bodies_and_query_parameters_come_from_the_models(doc):
    ops = operations(doc)
    body = ops[("POST", "/v1/recommend")]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RecommendRequest"}
    recommend = doc["components"]["schemas"]["RecommendRequest"]
    assert "ignored_fields" not in recommend["properties"]  # set by the validator, never sent
    assert {"user_id", "limit", "placements", "rules", "frequency_cap"} <= set(recommend["properties"])
    assert all(ref.startswith("#/components/schemas/") for ref in re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc))
               if "/schemas/" in ref)
    assert "$defs" not in json.dumps(doc)
    listed = {p["name"] for p in ops[("GET", "/v1/items")]["parameters"]}
    assert listed == {"limit", "cursor", "search"}
    query = {p["name"]: p for p in ops[("GET", "/v1/recommend")]["parameters"]}
    assert query["item_ids"]["explode"] is False and "placements" not in query and "rules" not in query
    path_params = ops[("GET", "/v1/items/{item_id}")]["parameters"]
    assert [(p["name"], p["in"]) for p in path_params] == [("item_id", "path")]


def test_the_recommend_request_lists_every_alias(doc):
    ops = operations(doc)
    texts = [ops[(m.upper(), p)]["requestBody"]["description"] for m, p in RECOMMEND_BODIES]
    texts += [ops[("GET", "/v1/recommend")]["description"], ops[("GET", "/api/v1/recommend")]["description"]]
    for text in texts:
        for canonical, aliases in RECOMMEND_ALIASES.items():
            for alias in aliases:
                assert f"`{alias}`" in text and f"`{canonical}`" in text, alias
        for shape in ("user.user_id", "`placement`", "`channel`", "placementId"):
            assert shape in text, shape


def test_success_responses_use_the_response_models(doc):
    ops = operations(doc)

    def schema(method, path, status="200"):
        return ops[(method, path)]["responses"][status]["content"]["application/json"]["schema"]

    assert schema("POST", "/v1/recommend") == {"oneOf": [{"$ref": "#/components/schemas/RecommendResponse"},
                                                         {"$ref": "#/components/schemas/GroupedRecommendResponse"}]}
    assert schema("GET", "/v1/recommend") == {"$ref": "#/components/schemas/RecommendResponse"}
    assert schema("POST", "/v1/recommend/validate") == {"$ref": "#/components/schemas/ValidateResponse"}
    assert schema("POST", "/v1/similar") == {"$ref": "#/components/schemas/SimilarResponse"}
    assert schema("POST", "/v1/models/train", "202") == {"$ref": "#/components/schemas/JobAccepted"}
    assert "content" not in ops[("DELETE", "/v1/items/{item_id}")]["responses"]["204"]


# ------------------------------------------------------------------ real bodies match the models
@pytest.fixture
def trained_tenant(aws):
    """A small catalogue and history, trained with a fast model: enough for real, non-empty lists."""
    from local.demo import generate
    from recengine.engine.als import ALSParams
    from recengine.engine.params import TrainParams
    from recengine.runtime import runtime
    from recengine.models.training import train_tenant
    from tests.integration.conftest import route_event

    caller = aws.tenant("openapi")
    data = generate(n_users=20, n_items=30, events_per_user=6, seed=11)
    status, _, body = invoke("POST", "/v1/items", route_event("POST", "/v1/items", caller=caller,
                                                              body={"items": data.items}))
    assert status == 200, body
    status, _, body = invoke("POST", "/v1/interactions", route_event("POST", "/v1/interactions", caller=caller,
                                                                      body={"interactions": data.interactions}))
    assert status == 201, body
    c = runtime()
    train_tenant(c.training, caller.tenant_id, force=True,
                 params=TrainParams(als=ALSParams(factors=8, iterations=2), ease=None, w_ease=0.0))
    return caller, data


def test_real_handler_bodies_validate_against_the_response_models(trained_tenant):
    from tests.integration.conftest import route_event

    caller, data = trained_tenant
    user = data.interactions[0]["user_id"]

    def call(method, path, body=None, query=None):
        status, headers, answer = invoke(method, path, route_event(method, path, caller=caller, body=body, query=query))
        assert status == 200, answer
        return answer

    single = call("POST", "/v1/recommend", {"userId": user, "k": 5, "debug": True, "unknown": 1})
    assert single["items"] and single["debug"]
    responses.RecommendResponse.model_validate(single)
    grouped = call("POST", "/v1/recommend", {"user_id": user, "placements": [{"placement_id": "home", "limit": 3},
                                                                              {"placementId": "cart"}]})
    assert [p["placement_id"] for p in grouped["placements"]] == ["home", "cart"]
    responses.GroupedRecommendResponse.model_validate(grouped)
    anonymous = call("GET", "/v1/recommend", query={"session_id": "s-1", "limit": "3"})
    assert responses.RecommendResponse.model_validate(anonymous).meta.anonymous_id
    responses.ValidateResponse.model_validate(call("POST", "/v1/recommend/validate", {"customerId": user}))
    responses.SimilarResponse.model_validate(call("POST", "/v1/similar", {"item_id": data.items[0]["id"]}))
    with pytest.raises(ValueError):  # the models are closed: an undocumented field is caught
        responses.RecommendResponse.model_validate({**single, "extra": 1})

    status, _, problem = invoke("POST", "/v1/recommend", route_event("POST", "/v1/recommend", caller=caller,
                                                                      body={"limit": 0}))
    assert status == 422
    assert Problem.model_validate(problem).errors


def test_checkout_documents_the_plans_it_accepts(doc):
    """Fuzzing found `{"plan_id": ""}` documented as valid and refused with 422."""
    from recengine.billing.plans import PLANS

    assert doc["components"]["schemas"]["CheckoutRequest"]["properties"]["plan_id"]["enum"] == list(PLANS) + [
        f"plan-{p}" for p in PLANS]  # RecommendAI's ids name the same plans
