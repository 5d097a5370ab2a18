"""End to end: start the local stack (the `make run` entry point) on a free port and call it over HTTP."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from local.spawn import StackNotReady, running_stack
from recengine.tenancy.roles import required_role

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def request(method: str, url: str, key: str | None = None, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("x-api-key", key)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def stack():
    try:
        with running_stack() as running:
            yield running.base_url, running.admin_key, running.output, running.process
    except StackNotReady as err:
        pytest.fail(str(err))


def test_the_stack_prints_ready_to_paste_curl_commands(stack):
    base, key, output, _ = stack
    assert f"curl -s {base}/health" in output
    assert f"x-api-key: {key}" in output and "/v1/recommend" in output


def test_health_needs_no_key_and_everything_else_does(stack):
    base, _, _, _ = stack
    assert request("GET", f"{base}/health")[0] == 200
    status, headers, body = request("POST", f"{base}/v1/recommend", body={"user_id": "user-0001"})
    assert status == 401 and headers["Content-Type"] == "application/problem+json"


def test_personalised_recommendations_over_http(stack):
    base, key, _, _ = stack
    status, headers, body = request("POST", f"{base}/v1/recommend", key, {"user_id": "user-0003", "limit": 5})
    assert status == 200 and len(body["items"]) == 5 and body["warnings"] == []
    assert body["meta"]["model_id"].startswith("model_hybrid-v1_") and headers["X-Request-Id"] == body["rec_id"]


def test_interaction_then_recommendation_changes_over_http(stack):
    base, key, _, _ = stack
    _, _, before = request("POST", f"{base}/v1/recommend", key, {"user_id": "e2e-user", "limit": 5})
    status, _, _ = request("POST", f"{base}/v1/interactions", key,
                           {"interactions": [{"user_id": "e2e-user", "item_id": f"item-{i:05d}", "type": "purchase",
                                              "event_id": f"e2e-{i}"} for i in (3, 11, 19)]})
    assert status == 201
    _, _, after = request("POST", f"{base}/v1/recommend", key, {"user_id": "e2e-user", "limit": 5})
    assert before["warnings"][0]["code"] == "unknown_user" and after["warnings"] == []
    assert [i["id"] for i in after["items"]] != [i["id"] for i in before["items"]]


def test_similar_items_and_catalogue_over_http(stack):
    base, key, _, _ = stack
    status, _, body = request("POST", f"{base}/v1/similar", key, {"item_id": "item-00001", "limit": 3})
    assert status == 200 and len(body["items"]) == 3
    status, _, body = request("GET", f"{base}/v1/items?limit=2&search=books", key)
    assert status == 200 and len(body["items"]) == 2 and body["items"][0]["metadata"]["category"] == "books"


def test_errors_over_http(stack):
    base, key, _, _ = stack
    assert request("POST", f"{base}/v1/recommend", key, {"user_id": "u", "limit": 0})[0] == 422
    assert request("GET", f"{base}/v1/nothing-here", key)[0] == 404
    req = urllib.request.Request(f"{base}/v1/recommend", data=b"{oops", method="POST",
                                 headers={"x-api-key": key, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400


# ------------------------------------------------------------------ the reference APIs' own examples
def tenant_of(output: str) -> str:
    return re.search(r"tenant\s*:\s*(\S+)", output).group(1)


def test_reference_000_example_with_a_bearer_key(stack):
    """The hosted recommend API's example, host and key changed: its model id is not this tenant's (404);
    without it, its unknown candidates are dropped with a warning."""
    base, key, _, _ = stack
    example = {"user_id": "2f396d29fb98", "item_ids": ["EC5792", "FC7890", "QW1234"], "limit": 10,
               "model_id": "model_baseline-v1_4jbsb1qkzFJx3tQY7hB5",
               "context": {"user_region": "US-CA", "os_platform": "iOS", "device_type": "mobile",
                           "referrer_source": "email_campaign"}}
    bearer = {"Authorization": f"Bearer {key}"}
    status, headers, problem = request("POST", f"{base}/v1/recommend", body=example, headers=bearer)
    assert status == 404 and problem["type"] == "/problems/model-not-found"
    assert headers["Content-Type"] == "application/problem+json"
    example.pop("model_id")
    status, _, body = request("POST", f"{base}/v1/recommend", body=example, headers=bearer)
    assert status == 200 and body["rec_id"] and body["items"] == []
    assert "unknown_candidates" in {w["code"] for w in body["warnings"]}
    example["item_ids"] = ["item-00001", "item-00002", "QW1234"]
    status, _, body = request("POST", f"{base}/v1/recommend", body=example, headers=bearer)
    assert status == 200 and {i["id"] for i in body["items"]} == {"item-00001", "item-00002"}
    assert request("POST", f"{base}/v1/recommend", body=example, headers={"Authorization": "Bearer wrong"})[0] == 401


def test_reference_001_decisioning_requests(stack):
    """The offer-decisioning API's fields: customer, channel and placements, rules inputs, exclusions,
    debug; its GET variant; 415 on a non-JSON body; an anonymous customer."""
    base, key, output, _ = stack
    tenant = {"X-Tenant-Id": tenant_of(output)}
    body = {"customerId": "user-0005", "channel": "web", "limit": 5, "sessionId": "3f9a6c1e0b7d4e21",
            "context": {"device": "mobile", "pageUrl": "/home"}, "segments": ["loyal"],
            "attributes": {"propensityScores": {"books": 0.8}}, "locale": "en-US", "currency": "USD",
            "placements": [{"placementId": "hero_banner", "limit": 2}, {"placementId": "sidebar", "limit": 3}],
            "deduplicate": True, "excludeOffers": ["item-00001"], "excludeCreatives": ["c-1"], "debug": True}
    status, _, got = request("POST", f"{base}/api/v1/recommend", key, body, headers=tenant)
    assert status == 200 and [p["placementId"] for p in got["placements"]] == ["hero_banner", "sidebar"]
    shown = [d["offerId"] for p in got["placements"] for d in p["decisions"]]
    assert len(shown) == 5 == len(set(shown)) and "item-00001" not in shown and "placements" in got["debugTrace"]
    assert got["interactionId"] and "ignored_fields" not in {w["code"] for w in got.get("warnings", [])}
    status, _, got = request("GET", f"{base}/api/v1/recommend?customerId=anonymous&channel=web&limit=5&debug=true", key,
                             headers=tenant)
    assert status == 200 and len(got["decisions"]) == 5 and "debugTrace" in got
    assert request("GET", f"{base}/api/v1/recommend?customerId=anonymous", key)[0] == 401  # X-Tenant-Id missing
    req = urllib.request.Request(f"{base}/api/v1/recommend", data=b"customerId=x", method="POST",
                                 headers={"x-api-key": key, "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 415
    assert request("POST", f"{base}/api/v1/recommend", key, {"customerId": "x"}, headers={"X-Tenant-Id": "other"})[0] == 401


def test_reference_001_respond_joins_an_outcome_to_its_decision(stack):
    """The Respond API over HTTP: an outcome of an offer the decision showed is recorded (201), the same
    again is a duplicate (200), an unknown decision is a 404 and an offer not shown a 422."""
    base, key, output, _ = stack
    status, _, decided = request("POST", f"{base}/api/v1/recommend", key, {"customerId": "user-0007", "limit": 3,
                                                                           "context": {"location": {"city": "Lyon"}}},
                                 headers={"X-Tenant-Id": tenant_of(output)})
    assert status == 200 and decided["decisions"], decided
    outcome = {"interactionId": decided["interactionId"], "offerId": decided["decisions"][0]["offerId"],
               "outcome": "purchase"}
    status, _, got = request("POST", f"{base}/api/v1/respond", key, outcome)
    assert status == 201 and got["duplicate"] is False and got["interactionId"] == decided["interactionId"], got
    assert request("POST", f"{base}/api/v1/respond", key, outcome)[0] == 200
    status, _, problem = request("POST", f"{base}/api/v1/respond", key, {**outcome, "interactionId": "nope"})
    assert status == 404 and problem["type"] == "/problems/not-found"
    shown = {d["offerId"] for d in decided["decisions"]}
    other = next(f"item-{n:05d}" for n in range(1, 200) if f"item-{n:05d}" not in shown)
    status, _, problem = request("POST", f"{base}/api/v1/respond", key, {**outcome, "offerId": other})
    assert status == 422 and problem["type"] == "/problems/offer-not-in-decision"


def test_reference_002_recommend_example(stack):
    """RecommendAI's own examples, host and key changed: bare arrays back, `deep-learning` served by the
    strongest model, one event answered with its id, pages of items by number, `Healthy` as text."""
    base, key, _, _ = stack
    status, _, got = request("POST", f"{base}/api/v1/recommend", body={"userId": "user-abc", "count": 10,
                                                                         "algorithm": "hybrid"},
                             headers={"X-API-Key": key})
    assert status == 200 and len(got) == 10 and all(i["explanation"] and i["itemId"] for i in got)
    status, _, neural = request("POST", f"{base}/api/v1/recommend", body={"userId": "u", "count": 5,
                                                                            "algorithm": "deep-learning"},
                                headers={"X-API-Key": key})
    assert status == 200 and len(neural) == 5 and all("deep-learning requested" in i["explanation"] for i in neural)
    status, _, similar = request("POST", f"{base}/api/v1/similar", body={"itemId": "item-00001", "count": 5},
                                 headers={"X-API-Key": key})
    assert status == 200 and len(similar) == 5 and set(similar[0]) == {"itemId", "score"}
    status, _, recorded = request("POST", f"{base}/api/v1/interactions", headers={"X-API-Key": key},
                                  body={"userId": "user-abc", "itemId": got[0]["itemId"],
                                        "interactionType": "purchase", "value": 1.0})
    assert status == 201 and recorded["success"] is True and recorded["interactionId"]
    status, _, page = request("GET", f"{base}/api/items?page=2&pageSize=5", headers={"X-API-Key": key})
    assert status == 200 and len(page["data"]) == 5 and page["page"] == 2 and page["total"] >= 10
    req = urllib.request.Request(f"{base}/health", headers={"Accept": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        assert answer.read() == b"Healthy"


def test_reference_003_surface_contract(stack):
    """The open recsys service's minimal body, tenant header and request id, and its validate call."""
    base, key, output, _ = stack
    headers = {"X-Request-Id": "integ-spec-1", "X-Dev-User-Id": "dev-user-1", "X-Dev-Org-Id": "demo",
               "X-Org-Id": tenant_of(output)}
    status, _, got = request("POST", f"{base}/v1/recommend/validate", key,
                             {"surface": "home", "k": 5, "user": {"user_id": "u_1"}}, headers=headers)
    assert status == 200 and got["valid"] is True and got["meta"]["request_id"] == "integ-spec-1"
    status, resp_headers, got = request("POST", f"{base}/v1/recommend", key,
                                        {"surface": "home", "k": 10, "user": {"user_id": "u_123", "session_id": "s_456"}},
                                        headers=headers)
    assert status == 200 and got["meta"]["request_id"] == "integ-spec-1" == resp_headers["X-Request-Id"]
    assert got["meta"]["surface"] == "home" and len(got["items"]) == 10 and isinstance(got["warnings"], list)
    status, _, problem = request("POST", f"{base}/v1/recommend", key, {"surface": "home", "k": 5, "user": {"user_id": "u"}},
                                 headers={**headers, "X-Org-Id": "someone-else"})
    assert status == 403 and problem["type"] == "/problems/forbidden"


# ------------------------------------------------------------------ jobs
def test_five_quick_trainings_give_one_job_and_four_409s(stack):
    base, key, _, _ = stack
    answers = [request("POST", f"{base}/v1/models/train", key) for _ in range(5)]
    assert [a[0] for a in answers] == [202, 409, 409, 409, 409]
    job_id = answers[0][2]["job_id"]
    assert all(a[2]["job_id"] == job_id and a[2]["type"] == "/problems/job-in-progress" for a in answers[1:])


def test_jobs_answer_at_once_and_run_in_the_worker_process(stack):
    base, key, _, _ = stack
    started = time.monotonic()
    status, _, job = request("POST", f"{base}/v1/recommendations/generate", key, {"count": 3})
    assert status == 202 and time.monotonic() - started < 5  # the chunks wait in the queue, not in the request
    deadline = time.monotonic() + 120
    while True:
        _, _, now = request("GET", f"{base}{job['status_url']}", key)
        if now["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert now["status"] == "succeeded" and now["progress"] == 1.0


def test_an_erased_user_is_unknown_afterwards(stack):
    """After the batch job above has finished: the erasure runs in the worker process, the user's
    history is gone (recommend answers `unknown_user`) and the user it counted is counted no more."""
    base, key, _, _ = stack
    user = "e2e-erase-me"
    users_before = request("GET", f"{base}/v1/billing/usage", key)[2]["users_used"]
    events = [{"user_id": user, "session_id": "e2e-erase-s", "item_id": f"item-{i:05d}", "type": "click"}
              for i in range(3)]
    assert request("POST", f"{base}/v1/interactions", key, {"interactions": events})[0] == 201
    assert request("GET", f"{base}/v1/billing/usage", key)[2]["users_used"] == users_before + 1
    _, _, before = request("POST", f"{base}/v1/recommend", key, {"user_id": user, "limit": 5})
    assert "unknown_user" not in {w["code"] for w in before["warnings"]}
    status, headers, job = request("DELETE", f"{base}/v1/users/{user}", key)
    assert status == 202 and headers["Location"] == job["status_url"] and user not in json.dumps(job)
    deadline = time.monotonic() + 60
    while True:
        _, _, now = request("GET", f"{base}{job['status_url']}", key)
        if now["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert now["status"] == "succeeded" and now["erased"]["history_rows"] == 3, now
    _, _, after = request("POST", f"{base}/v1/recommend", key, {"user_id": user, "limit": 5})
    assert "unknown_user" in {w["code"] for w in after["warnings"]}
    assert request("GET", f"{base}/v1/billing/usage", key)[2]["users_used"] == users_before


# ------------------------------------------------------------------ key roles
@pytest.fixture(scope="module")
def keys(stack):
    """The demo tenant's key per role, from the READY line (api_key is the admin key)."""
    base, admin, output, _ = stack
    found = re.search(r"READY base_url=\S+ api_key=\S+ read_key=(\S+) write_key=(\S+)", output)
    assert found, output[-2000:]
    return {"read": found.group(1), "write": found.group(2), "admin": admin}


def test_the_stack_prints_a_key_per_role_and_each_example_uses_the_least_role(stack, keys):
    _, _, output, _ = stack
    assert [keys[r][:len(r) + 4] for r in ("read", "write", "admin")] == ["rk_read_", "rk_write_", "rk_admin_"]
    examples = []
    for line in output.splitlines():
        if line.strip().startswith("curl ") and "Bearer $TOKEN" in line:  # the portal admin's token, no key
            path = re.search(r"https?://[^/\s']+(/[^\s'?]*)", line).group(1)
            assert not any(value in line for value in keys.values()) and path.startswith(("/api/users", "/api/recommendations", "/api/analytics")), line
            continue
        if line.strip().startswith("curl "):
            method = re.search(r"-X (\w+)", line)
            path = re.search(r"https?://[^/\s']+(/[^\s'?]*)", line).group(1)
            role = next((r for r, value in keys.items() if value in line), None)
            examples.append((method.group(1) if method else "GET", path, role))
    assert {role for _, _, role in examples} == {None, "read", "write", "admin"}
    for method, path, role in examples:
        needed = required_role(method, path)
        assert role == (needed.value if needed else None), (method, path)


def test_the_printed_portal_login_reads_the_demo_tenants_users_and_no_one_elses(stack):
    """`portal login: <email> <password>` works over HTTP; a new sign-up's token sees only its own tenant."""
    base, _, output, _ = stack
    email, password = re.search(r"portal login: (\S+) (\S+)", output).groups()
    status, _, login = request("POST", f"{base}/api/auth/login", body={"email": email, "password": password})
    assert status == 200 and login["user"]["role"] == "admin", login
    demo = {"Authorization": f"Bearer {login['token']}"}
    assert request("POST", f"{base}/api/users", body={"id": "user-0001", "email": "e@x.example", "name": "E"},
                   headers=demo)[0] == 201
    assert request("GET", f"{base}/api/users/user-0001", headers=demo)[2]["lastActiveAt"] is not None
    assert request("POST", f"{base}/api/auth/register",
                   body={"email": "other@e2e.example", "name": "Other", "password": "password-123"})[0] == 201
    status, _, other = request("POST", f"{base}/auth/v1/token?grant_type=password",
                               body={"email": "other@e2e.example", "password": "password-123"})
    assert status == 200, other
    theirs = {"Authorization": f"Bearer {other['access_token']}"}
    assert request("GET", f"{base}/api/users/user-0001", headers=theirs)[0] == 404
    assert request("GET", f"{base}/api/users", headers=theirs)[2]["total"] == 0
    forged = {"Authorization": f"Bearer {login['token'][:-6]}AAAAAA"}
    status, headers, _ = request("GET", f"{base}/api/users", headers=forged)
    assert status == 401 and headers["Content-Type"] == "application/problem+json"


def test_the_seeds_billing_takes_the_portal_token_or_a_key_and_register_an_admin_key(stack, keys):
    """Over HTTP: /api/billing/* with the printed portal admin's token or the demo tenant's keys (the
    same tenant either way); register with the admin key adds an account, with a read key 403."""
    base, _, output, _ = stack
    email, password = re.search(r"portal login: (\S+) (\S+)", output).groups()
    token = request("POST", f"{base}/api/auth/login", body={"email": email, "password": password})[2]["token"]
    status, _, by_token = request("GET", f"{base}/api/billing/current", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, by_token
    status, _, by_key = request("GET", f"{base}/api/billing/current", keys["read"])
    assert status == 200 and by_key["tenantId"] == by_token["tenantId"], by_key
    assert request("PUT", f"{base}/api/billing/overage-cap", keys["read"], {"capAmount": 10.0})[0] == 403
    status, _, capped = request("PUT", f"{base}/api/billing/overage-cap", body={"capAmount": 10.0},
                                headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and capped["overageBudgetCap"] == 10.0, capped
    assert request("GET", f"{base}/api/billing/usage", "rk_admin_made-up-value")[0] == 401
    account = {"email": "clerk@e2e.example", "name": "Clerk", "password": "password-123"}
    assert request("POST", f"{base}/api/auth/register", keys["read"], account)[0] == 403
    status, _, added = request("POST", f"{base}/api/auth/register", keys["admin"], account)
    assert status == 201 and added["tenantId"] == by_token["tenantId"], added


def test_stored_recommendations_of_a_segment_over_http(stack):
    """The portal admin tags an end user with its own e-mail, generates for that segment (the chunks
    run in the worker process), then reads its own records, one by id, and deletes it; another
    tenant's token sees none of them."""
    base, _, output, _ = stack
    email, password = re.search(r"portal login: (\S+) (\S+)", output).groups()
    _, _, login = request("POST", f"{base}/api/auth/login", body={"email": email, "password": password})
    demo = {"Authorization": f"Bearer {login['token']}"}
    assert request("POST", f"{base}/api/users", body={"id": "user-0002", "email": email, "name": "Me",
                                                      "segments": ["e2e"]}, headers=demo)[0] == 201
    status, _, job = request("POST", f"{base}/api/recommendations/generate", headers=demo,
                             body={"algorithm": "hybrid", "userSegment": "e2e", "count": 3})
    assert status == 202 and job["status"] == "processing" and job["users"] == 1, job
    assert job["estimatedCompletionMs"] > 0
    deadline = time.monotonic() + 120
    while True:
        status, _, mine = request("GET", f"{base}/api/recommendations/my", headers=demo)
        if status == 200 and mine["total"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200 and mine["total"] == 3 and {r["userId"] for r in mine["data"]} == {"user-0002"}, mine
    assert all(r["metadata"] and r["createdAt"].endswith("Z") for r in mine["data"])
    url = f"{base}/api/recommendations/{mine['data'][0]['id']}"
    assert request("GET", url, headers=demo)[2] == mine["data"][0]
    assert request("POST", f"{base}/api/auth/register",
                   body={"email": "stored@e2e.example", "name": "Stored", "password": "password-123"})[0] == 201
    _, _, other = request("POST", f"{base}/api/auth/login", body={"email": "stored@e2e.example",
                                                                  "password": "password-123"})
    theirs = {"Authorization": f"Bearer {other['token']}"}
    assert request("GET", url, headers=theirs)[0] == 404
    assert request("GET", f"{base}/api/recommendations", headers=theirs)[2]["total"] == 0
    assert request("DELETE", url, headers=demo)[0] == 204
    assert request("GET", url, headers=demo)[0] == 404


def test_the_portals_analytics_count_traffic_as_it_happens_over_http(stack, keys):
    """Seed 002's analytics with the printed portal login: a recommend and an interaction call show at
    once; accuracy is the live model's NDCG@10 as GET /v1/models reports it; another period is 422."""
    base, _, output, _ = stack
    email, password = re.search(r"portal login: (\S+) (\S+)", output).groups()
    token = request("POST", f"{base}/api/auth/login", body={"email": email, "password": password})[2]["token"]
    portal = {"Authorization": f"Bearer {token}"}
    status, _, before = request("GET", f"{base}/api/analytics/stats", headers=portal)
    assert status == 200 and set(before) == {"totalUsers", "totalItems", "totalRecommendations", "totalInteractions",
                                             "activeModels", "dailyActiveUsers", "avgAccuracy"}, before
    assert request("POST", f"{base}/v1/recommend", keys["read"], {"user_id": "user-0003", "limit": 5})[0] == 200
    events = [{"user_id": "analytics-e2e", "item_id": "item-00003", "type": "view", "event_id": f"an-{i}"}
              for i in range(2)]
    assert request("POST", f"{base}/v1/interactions", keys["write"], {"interactions": events})[0] == 201
    after = request("GET", f"{base}/api/analytics/stats", headers=portal)[2]
    assert after["totalRecommendations"] == before["totalRecommendations"] + 1
    assert after["totalInteractions"] == before["totalInteractions"] + 2
    assert after["dailyActiveUsers"] == before["dailyActiveUsers"] + 1
    models = request("GET", f"{base}/v1/models", keys["read"])[2]
    live = next(m for m in models["models"] if m["model_id"] == models["live_model_id"])
    status, _, series = request("GET", f"{base}/api/analytics/data?period=30d", headers=portal)
    assert status == 200 and len(series) == 30 and series[-1]["accuracy"] == pytest.approx(live["metrics"]["ndcg@10"])
    status, headers, problem = request("GET", f"{base}/api/analytics/data?period=1y", headers=portal)
    assert status == 422 and headers["Content-Type"] == "application/problem+json", problem
    assert request("GET", f"{base}/api/analytics/stats", keys["admin"])[0] in (401, 403)


def test_a_read_key_serves_recommendations_but_changes_nothing(stack, keys):
    base, _, _, _ = stack
    read = keys["read"]
    status, _, body = request("POST", f"{base}/v1/recommend", read, {"user_id": "user-0003", "limit": 5})
    assert status == 200 and len(body["items"]) == 5
    refused = [("PUT", "/v1/billing/overage-cap", {"cap_amount": 1}), ("DELETE", "/v1/items/item-00117", None),
               ("POST", "/v1/models/train", None),
               ("POST", "/v1/recommendations/generate", {"algorithm": "popular", "count": 3, "user_ids": ["user-0003"]})]
    for method, path, payload in refused:
        status, headers, problem = request(method, f"{base}{path}", read, payload)
        assert status == 403 and problem["type"] == "/problems/insufficient-scope", (path, problem)
        assert "admin" in problem["detail"] and headers["Content-Type"] == "application/problem+json"
    assert request("POST", f"{base}/v1/interactions", read,
                   {"user_id": "user-0003", "item_id": "item-00001", "type": "view"})[0] == 403
    status, _, item = request("GET", f"{base}/v1/items/item-00117", read)
    assert status == 200 and item["active"] is True  # the refused delete did nothing


def test_a_write_key_sends_interactions_and_an_admin_key_may_do_everything(stack, keys):
    base, _, _, _ = stack
    assert request("POST", f"{base}/v1/interactions", keys["write"],
                   {"user_id": "user-0003", "item_id": "item-00001", "type": "view", "event_id": "e2e-roles-1"})[0] == 201
    assert request("DELETE", f"{base}/v1/items/item-00117", keys["write"])[0] == 403
    admin = keys["admin"]
    status, _, usage = request("PUT", f"{base}/v1/billing/overage-cap", admin, {"cap_amount": 500})
    assert status == 200 and usage["overage_budget_cap"] == 500
    assert request("DELETE", f"{base}/v1/items/item-00117", admin)[0] == 204
    assert request("POST", f"{base}/v1/models/train", admin)[0] not in (401, 403)
    assert request("POST", f"{base}/v1/recommendations/generate", admin,
                   {"algorithm": "popular", "count": 3, "user_ids": ["user-0003"]})[0] not in (401, 403)


def test_a_method_the_path_lacks_is_405_with_allow_over_http_for_any_method_token(stack):
    """http.server alone answers 501 to a method it has no handler for; the gateway routes every one."""
    import http.client
    from urllib.parse import urlsplit

    base = urlsplit(stack[0])
    for method in ("PATCH", "OPTIONS", "PROPFIND", "HEAD"):
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        conn.request(method, "/v1/items")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 405 and resp.getheader("Allow") == "GET, POST"
        assert resp.getheader("Content-Type") == "application/problem+json"
        if method != "HEAD":  # a HEAD answer carries no body
            assert json.loads(body)["type"] == "/problems/method-not-allowed"


def test_the_seeds_graphql_operations_over_http(stack, keys):
    """Seed 002's GraphQL example requests, host and key changed: queries with a read key, the mutation
    refused to it (FORBIDDEN, in `errors[]` with HTTP 200) and recorded with a write key."""
    base, _, _, _ = stack
    recs = "query R($userId: String!, $count: Int!) { getRecommendations(userId: $userId, count: $count) " \
           "{ itemId score algorithm explanation } getApiVersion getHealth { status timestamp } }"
    status, _, body = request("POST", f"{base}/graphql", keys["read"],
                              {"query": recs, "variables": {"userId": "user-0003", "count": 5}})
    assert status == 200 and "errors" not in body and len(body["data"]["getRecommendations"]) == 5, body
    similar = '{ getSimilarItems(itemId: "item-00001", count: 3) { itemId score } }'
    assert len(request("POST", f"{base}/graphql", keys["read"], {"query": similar})[2]["data"]["getSimilarItems"]) == 3
    record = 'mutation { recordInteraction(userId: "user-0003", itemId: "item-00002", interactionType: "view", ' \
             'value: 1.0) { success message timestamp } }'
    status, _, body = request("POST", f"{base}/graphql", keys["read"], {"query": record})
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    status, _, body = request("POST", f"{base}/graphql", keys["write"], {"query": record})
    assert status == 200 and body["data"]["recordInteraction"]["success"] is True, body
    status, headers, _ = request("POST", f"{base}/graphql", None, {"query": "{ getApiVersion }"})
    assert status == 401 and headers["Content-Type"] == "application/problem+json"


# Last: it stops the module's stack.
def test_ctrl_c_stops_the_stack_cleanly(stack):
    _, _, _, proc = stack
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert "stopped" in proc.stdout.read()

