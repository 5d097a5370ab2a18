"""Stored recommendations through the local gateway (the REQUEST authorizer verifies moto's Cognito
tokens) on in-process moto: given a trained tenant whose batch job is run by the generate route,
the records page by number with catalogue metadata, an account reads its own through its end user's
e-mail, a deleted record is gone from the list recommend serves, and another tenant's token sees
and changes nothing."""

from __future__ import annotations

import pytest

from local.provision import create_portal_admin
from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train
from tests.integration.portal.test_portal import PASSWORD, gw, login, sign_up  # noqa: F401 - gw is a fixture

ISOLATION_COVERED = {("GET", "/api/recommendations"), ("GET", "/api/recommendations/my"),
                     ("GET", "/api/recommendations/{rec_id}"), ("DELETE", "/api/recommendations/{rec_id}"),
                     ("POST", "/api/recommendations/generate")}
COUNT = 4


@pytest.fixture
def shop(aws, api, gw, configure):  # noqa: F811 - the gw fixture
    """A trained tenant with an admin and a `user` account; the user account's e-mail is end user
    `user-0001`'s, who (with user-0003) carries the segment tag `vip`."""
    configure(BATCH_DISPATCH="inline")
    caller = aws.tenant("shop")
    data = seed_tenant(api, caller, users=12, items=30, events=6)
    train(caller)
    admin = login(gw, "ops@shop.example", create_portal_admin(caller.tenant_id, "ops@shop.example"))
    status, _, body = gw("POST", "/api/auth/register", {"email": "clerk@shop.example", "name": "Clerk",
                                                        "password": PASSWORD, "role": "user"}, admin)
    assert status == 201, body
    for user_id, email in (("user-0001", "Clerk@Shop.example"), ("user-0003", "other@shop.example")):
        status, _, body = gw("POST", "/api/users", {"id": user_id, "email": email, "name": user_id,
                                                    "segments": ["vip"]}, admin)
        assert status == 201 and body["segments"] == ["vip"], body
    users = sorted({e["user_id"] for e in data.interactions})
    return {"caller": caller, "admin": admin, "clerk": login(gw, "clerk@shop.example"), "users": users}


def generate(gw, token, segment="all", algorithm="hybrid"):  # noqa: F811
    status, _, body = gw("POST", "/api/recommendations/generate", {"algorithm": algorithm, "userSegment": segment,
                                                                   "count": COUNT}, token)
    assert status == 202, body
    return body


def everything(gw, token, **query):  # noqa: F811
    """Every record, page after page (pageSize 7: pages cut through lists)."""
    out, page = [], 1
    while True:
        suffix = "&".join(f"{k}={v}" for k, v in {"page": page, "pageSize": 7, **query}.items())
        status, _, body = gw("GET", f"/api/recommendations?{suffix}", token=token)
        assert status == 200, body
        out += body["data"]
        if not body["data"]:
            return out, body["total"]
        page += 1


def test_generate_for_all_stores_every_users_list_as_records_with_catalogue_metadata(gw, shop):  # noqa: F811
    job = generate(gw, shop["admin"])
    # inline dispatch (tests, local stack): the job is over before the 202 answers
    assert job["jobId"].startswith("batch-") and job["status"] == "completed" and job["users"] == len(shop["users"])
    assert job["estimatedCompletionMs"] == 0
    records, total = everything(gw, shop["admin"])
    assert total == len(records) == COUNT * len(shop["users"])
    assert len({r["id"] for r in records}) == total
    assert sorted({r["userId"] for r in records}) == shop["users"]
    first = records[0]
    assert set(first) == {"id", "userId", "itemId", "score", "reason", "algorithm", "createdAt", "metadata"}
    assert first["algorithm"] == "hybrid" and first["createdAt"].endswith("Z")
    stored = runtime().items.get(shop["caller"].tenant_id, first["itemId"])
    assert first["metadata"] == stored["metadata"] and first["metadata"]["title"]
    status, _, one = gw("GET", f"/api/recommendations/{first['id']}", token=shop["admin"])
    assert status == 200 and one == first


def test_the_user_and_algorithm_filters(gw, shop):  # noqa: F811
    generate(gw, shop["admin"])
    generate(gw, shop["admin"], segment="vip", algorithm="popular")  # a second list for user-0001 and -0003
    records, total = everything(gw, shop["admin"], userId="user-0002")
    assert total == COUNT and {r["userId"] for r in records} == {"user-0002"}
    records, total = everything(gw, shop["admin"], userId="user-0001")
    assert total == 2 * COUNT and {r["algorithm"] for r in records} == {"hybrid", "popular"}
    records, total = everything(gw, shop["admin"], algorithm="hybrid")
    assert total == COUNT * len(shop["users"]) and {r["algorithm"] for r in records} == {"hybrid"}
    assert everything(gw, shop["admin"], algorithm="popular")[1] == 2 * COUNT
    assert everything(gw, shop["admin"])[1] == COUNT * (len(shop["users"]) + 2)
    assert everything(gw, shop["admin"], algorithm="trending") == ([], 0)


def test_a_segment_tag_generates_only_its_users_and_an_unknown_tag_is_not_found(gw, shop):  # noqa: F811
    job = generate(gw, shop["admin"], segment="vip")
    assert job["users"] == 2
    records, total = everything(gw, shop["admin"])
    assert total == 2 * COUNT and {r["userId"] for r in records} == {"user-0001", "user-0003"}
    status, headers, body = gw("POST", "/api/recommendations/generate", {"userSegment": "nobody-has-it"},
                               shop["admin"])
    assert status == 404 and headers["Content-Type"] == "application/problem+json", body  # nobody carries it


def test_an_account_reads_its_own_records_through_its_end_users_email(gw, shop):  # noqa: F811
    generate(gw, shop["admin"])
    status, _, mine = gw("GET", "/api/recommendations/my", token=shop["clerk"])
    assert status == 200, mine
    assert mine["total"] == COUNT and {r["userId"] for r in mine["data"]} == {"user-0001"}
    assert (mine["page"], mine["pageSize"]) == (1, 20)
    own = mine["data"][0]["id"]
    assert gw("GET", f"/api/recommendations/{own}", token=shop["clerk"])[0] == 200
    others, _ = everything(gw, shop["admin"], userId="user-0002")
    assert gw("GET", f"/api/recommendations/{others[0]['id']}", token=shop["clerk"])[0] == 404
    # below admin: no listing of everyone's, no deleting, no generating
    assert gw("GET", "/api/recommendations", token=shop["clerk"])[0] == 403
    assert gw("DELETE", f"/api/recommendations/{own}", token=shop["clerk"])[0] == 403
    assert gw("POST", "/api/recommendations/generate", {"userSegment": "all"}, shop["clerk"])[0] == 403
    # the admin's account has no end user with its e-mail: a 404 that says how to link one
    status, _, body = gw("GET", "/api/recommendations/my", token=shop["admin"])
    assert status == 404 and "POST /api/users" in body["detail"]


def test_deleting_a_record_takes_it_out_of_the_list_recommend_serves(gw, shop, api):  # noqa: F811
    generate(gw, shop["admin"])
    records, total = everything(gw, shop["admin"], userId="user-0002")
    gone = records[1]
    status, _, body = gw("DELETE", f"/api/recommendations/{gone['id']}", token=shop["admin"])
    assert status == 204 and body is None
    assert gw("GET", f"/api/recommendations/{gone['id']}", token=shop["admin"])[0] == 404
    assert gw("DELETE", f"/api/recommendations/{gone['id']}", token=shop["admin"])[0] == 404
    left, left_total = everything(gw, shop["admin"], userId="user-0002")
    assert left_total == total - 1 and [r["id"] for r in left] == [r["id"] for r in records if r != gone]
    assert everything(gw, shop["admin"])[1] == COUNT * len(shop["users"]) - 1
    status, _, served = api("POST", "/v1/recommend", caller=shop["caller"],
                            body={"user_id": "user-0002", "limit": COUNT, "source": "batch"})
    assert status == 200 and gone["itemId"] not in [i["id"] for i in served["items"]], served


def test_ids_that_name_nothing_are_404_and_page_sizes_are_capped(gw, shop):  # noqa: F811
    for rec_id in ("rec_bm90LWFuLWlk", "not-an-id", "rec_%%%"):
        status, headers, body = gw("GET", f"/api/recommendations/{rec_id}", token=shop["admin"])
        assert status == 404 and headers["Content-Type"] == "application/problem+json", body
    assert gw("GET", "/api/recommendations?pageSize=101", token=shop["admin"])[0] == 422
    assert gw("GET", "/api/recommendations?page=0", token=shop["admin"])[0] == 422


def test_another_tenants_token_sees_and_changes_none_of_the_records(gw, shop):  # noqa: F811
    generate(gw, shop["admin"])
    records, total = everything(gw, shop["admin"])
    sign_up(gw, "boss@other.example", "Other")
    other = login(gw, "boss@other.example")
    seen = set()
    seen.add(("GET", "/api/recommendations"))
    assert everything(gw, other) == ([], 0)
    assert everything(gw, other, userId=records[0]["userId"]) == ([], 0)
    seen.add(("GET", "/api/recommendations/{rec_id}"))
    assert gw("GET", f"/api/recommendations/{records[0]['id']}", token=other)[0] == 404
    seen.add(("DELETE", "/api/recommendations/{rec_id}"))
    assert gw("DELETE", f"/api/recommendations/{records[0]['id']}", token=other)[0] == 404
    seen.add(("GET", "/api/recommendations/my"))
    # the other tenant's end user with the shop's clerk's e-mail links nothing of the shop's
    assert gw("POST", "/api/users", {"id": "user-0001", "email": "boss@other.example", "name": "B"}, other)[0] == 201
    status, _, mine = gw("GET", "/api/recommendations/my", token=other)
    assert status == 200 and mine["total"] == 0
    seen.add(("POST", "/api/recommendations/generate"))
    job = generate(gw, other, segment="all")
    assert job["users"] == 0  # the other tenant has no events: its job has nobody to rank
    assert everything(gw, shop["admin"]) == (records, total)
    assert seen == ISOLATION_COVERED


def test_an_erased_user_leaves_no_records_behind(gw, shop, aws):  # noqa: F811
    from tests.integration.conftest import drain_erasure_queue

    generate(gw, shop["admin"])
    assert gw("DELETE", "/api/users/user-0003", token=shop["admin"])[0] == 204
    assert drain_erasure_queue(aws) == 1
    records, total = everything(gw, shop["admin"])
    assert total == len(records) == COUNT * (len(shop["users"]) - 1)
    assert "user-0003" not in {r["userId"] for r in records}
