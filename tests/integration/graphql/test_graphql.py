"""POST /graphql through the real handler on moto: the seed's operations answer what the REST routes
answer (same services, same presenters), the mutation needs a write key, limits and bad input come back
as `errors[]` with their `extensions.code`, and a body that is not a GraphQL request is a 400."""

from __future__ import annotations

import json

import pytest

from recengine.graphql.limits import MAX_BODY_BYTES, MAX_INTROSPECTION_DEPTH, MAX_ROOT_FIELDS
from recengine.runtime import runtime
from tests.conftest import invoke
from tests.integration.conftest import route_event, seed_tenant, train

URL = "/graphql"
RECOMMEND = """query GetRecommendations($userId: String!, $count: Int!, $algorithm: String) {
  getRecommendations(userId: $userId, count: $count, algorithm: $algorithm) { itemId score algorithm explanation }
}"""
SIMILAR = """query GetSimilarItems($itemId: String!, $count: Int!) {
  getSimilarItems(itemId: $itemId, count: $count) { itemId score }
}"""
RECORD = """mutation RecordInteraction($userId: String!, $itemId: String!, $interactionType: String!, $value: Float) {
  recordInteraction(userId: $userId, itemId: $itemId, interactionType: $interactionType, value: $value) {
    success message timestamp
  }
}"""


@pytest.fixture
def shop(aws, api):
    caller = aws.tenant("shop")
    data = seed_tenant(api, caller, users=40, items=60, events=10)
    record = train(caller)
    return caller, data, record


def gql(api, caller, query, variables=None, **extra):
    return api("POST", URL, caller=caller, body={"query": query, **({"variables": variables} if variables else {}),
                                                  **extra})


def codes(body) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def test_get_recommendations_answers_the_rest_routes_list_in_the_recommendai_shape(shop, api):
    caller, _, _ = shop
    status, _, body = gql(api, caller, RECOMMEND, {"userId": "user-0003", "count": 5})
    assert status == 200 and "errors" not in body, body
    items = body["data"]["getRecommendations"]
    assert len(items) == 5 and all(set(i) == {"itemId", "score", "algorithm", "explanation"} for i in items)
    _, _, rest = api("POST", "/api/v1/recommend", caller=caller, body={"userId": "user-0003", "count": 5})
    assert [i["itemId"] for i in items] == [i["itemId"] for i in rest]
    assert {i["algorithm"] for i in items} == {i["algorithm"] for i in rest}


def test_get_similar_items(shop, api):
    caller, data, _ = shop
    item = data.items[0]["id"]
    status, _, body = gql(api, caller, SIMILAR, {"itemId": item, "count": 4})
    assert status == 200 and "errors" not in body, body
    got = body["data"]["getSimilarItems"]
    _, _, rest = api("POST", "/api/v1/similar", caller=caller, body={"itemId": item, "count": 4})
    assert got == rest and len(got) == 4 and item not in {i["itemId"] for i in got}


def test_an_unknown_item_is_not_found(shop, api):
    caller, _, _ = shop
    _, _, body = gql(api, caller, SIMILAR, {"itemId": "no-such-item", "count": 4})
    assert codes(body) == ["NOT_FOUND"] and body["data"] is None


def test_version_and_health(aws, api):
    caller = aws.tenant()
    status, _, body = gql(api, caller.as_role("read"), "{ getApiVersion getHealth { status timestamp } }")
    assert status == 200 and body["data"]["getApiVersion"] and body["data"]["getHealth"]["status"] == "ok"
    assert body["data"]["getHealth"]["timestamp"].endswith("Z") or "+" in body["data"]["getHealth"]["timestamp"]


def test_record_interaction_writes_an_event_the_history_shows(aws, api):
    caller = aws.tenant().as_role("write")
    status, _, body = gql(api, caller, RECORD, {"userId": "u-1", "itemId": "sku-1", "interactionType": "purchase",
                                                "value": 1.0})
    assert status == 200 and "errors" not in body, body
    result = body["data"]["recordInteraction"]
    assert result["success"] is True and result["message"] and result["timestamp"]
    history = runtime().interactions.recent_for_user(caller.tenant_id, "u-1", 10)
    assert [(e["item_id"], e["type"]) for e in history] == [("sku-1", "purchase")]


def test_a_read_key_is_forbidden_the_mutation_and_writes_nothing(aws, api):
    caller = aws.tenant().as_role("read")
    status, _, body = gql(api, caller, RECORD, {"userId": "u-1", "itemId": "sku-1", "interactionType": "view"})
    assert status == 200 and codes(body) == ["FORBIDDEN"] and body["data"] is None
    assert "write role" in body["errors"][0]["message"]
    assert runtime().interactions.recent_for_user(caller.tenant_id, "u-1", 10) == []


def test_an_invalid_interaction_is_bad_user_input_as_on_rest(aws, api):
    caller = aws.tenant()
    _, _, body = gql(api, caller, RECORD, {"userId": "u-1", "itemId": "sku-1", "interactionType": "stare"})
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["errors"][0]["field"] == "type"


@pytest.mark.parametrize("variables", [{"userId": "u-1", "count": "five"}, {"userId": "u-1"},
                                       {"userId": None, "count": 3}])
def test_invalid_variables_are_bad_user_input(aws, api, variables):
    _, _, body = gql(api, aws.tenant(), RECOMMEND, variables)
    assert codes(body) and set(codes(body)) == {"BAD_USER_INPUT"} and body.get("data") is None


@pytest.mark.parametrize("count", [0, 101])
def test_count_out_of_range_is_bad_user_input(aws, api, count):
    _, _, body = gql(api, aws.tenant(), RECOMMEND, {"userId": "u-1", "count": count})
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["errors"][0]["field"] == "count"


def test_an_unknown_algorithm_is_bad_user_input(aws, api):
    _, _, body = gql(api, aws.tenant(), RECOMMEND, {"userId": "u-1", "count": 3, "algorithm": "magic"})
    assert codes(body) == ["BAD_USER_INPUT"]


def test_introspection_deeper_than_its_limits_is_refused(aws, api):
    """The seed's own fields are two levels deep; introspection goes deeper, within its own bounds."""
    chain = "ofType { " * MAX_INTROSPECTION_DEPTH + "name" + " }" * MAX_INTROSPECTION_DEPTH
    _, _, body = gql(api, aws.tenant(), '{ __type(name: "Query") { name ' + chain + " } }")
    assert codes(body) == ["BAD_USER_INPUT"] and "levels deep" in body["errors"][0]["message"]
    lists = "fields { type { fields { type { fields { name } } } } }"
    _, _, body = gql(api, aws.tenant(), "{ __schema { types { " + lists + " } } }")
    # graphql-core's own MaxIntrospectionDepthRule may refuse it too
    assert set(codes(body)) == {"BAD_USER_INPUT"} and any("3 are allowed" in e["message"] for e in body["errors"])


def test_more_aliases_than_the_limit_are_refused_before_any_call(aws, api):
    caller = aws.tenant()
    many = " ".join(f"r{n}: getRecommendations(userId: \"u-1\", count: 1) {{ itemId }}"
                    for n in range(MAX_ROOT_FIELDS + 1))
    status, _, body = gql(api, caller, "{ " + many + " }")
    assert status == 200 and codes(body) == ["BAD_USER_INPUT"] and "root fields" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["limit"] == "root-fields" and "data" not in body
    assert api("GET", "/v1/billing/usage", caller=caller)[2]["requests_used"] == 0


def test_each_alias_is_metered_as_its_own_call(shop, api):
    caller, _, _ = shop
    before = api("GET", "/v1/billing/usage", caller=caller)[2]["requests_used"]
    query = "{ a: getRecommendations(userId: \"user-0001\", count: 2) { itemId } " \
            "b: getRecommendations(userId: \"user-0002\", count: 2) { itemId } }"
    _, _, body = gql(api, caller, query)
    assert len(body["data"]["a"]) == 2 and len(body["data"]["b"]) == 2
    assert api("GET", "/v1/billing/usage", caller=caller)[2]["requests_used"] == before + 2


def test_introspection_is_allowed(aws, api):
    from graphql import get_introspection_query

    _, _, body = gql(api, aws.tenant(), get_introspection_query())
    assert "errors" not in body, body["errors"][:2]
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Recommendation", "SimilarItem", "Health", "InteractionResult"} <= names


def test_a_syntax_error_is_bad_user_input(aws, api):
    status, _, body = gql(api, aws.tenant(), "{ getHealth { status ")
    assert status == 200 and codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("body", [[], {"variables": {}}, {"query": 5}, {"query": "{ getApiVersion }", "x": 1}, "q"])
def test_a_body_that_is_not_a_graphql_request_is_a_400(aws, body):
    event = route_event("POST", URL, caller=aws.tenant(), body=body)
    status, _, answer = invoke("POST", URL, event)
    assert status == 400 and answer["type"] == "/problems/bad-request"


def test_malformed_json_is_a_400(aws):
    event = route_event("POST", URL, caller=aws.tenant(), body={"query": "{ getApiVersion }"})
    event["body"] = '{"query": '
    status, _, answer = invoke("POST", URL, event)
    assert status == 400 and answer["type"] == "/problems/malformed-json"


def test_a_body_over_64_kb_is_refused(aws):
    event = route_event("POST", URL, caller=aws.tenant(), body={"query": "{ getApiVersion }"})
    event["body"] = json.dumps({"query": "{ getApiVersion }" + " " * MAX_BODY_BYTES})
    status, _, answer = invoke("POST", URL, event)
    assert status == 413 and answer["type"] == "/problems/content-too-large"
