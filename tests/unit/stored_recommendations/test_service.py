"""Stored recommendations' service and presenters on in-memory stores: ids, paging through the list
index (a page that cuts through lists), filters, the owner check, the account link, the segments a
generation covers and the answer it gives."""

from __future__ import annotations

import pytest

from recengine.errors import ConflictError, NotFoundError
from recengine.portal.end_users import EndUser
from recengine.stored_recommendations import presenters, service
from recengine.stored_recommendations.service import (list_recommendations, parse_recommendation_id,
                                                      recommendation_id)

T = "shop"


class Lists:
    """The PrecomputedListStore's reads, over {(user, algorithm): list}, recording what was fetched."""

    def __init__(self, lists: dict[tuple[str, str], list[str]]):
        self.rows = {(u, a): {"user_id": u, "algorithm": a, "generated_at": 1_760_000_000.0,
                              "items": [{"id": i, "score": 1.0 - n / 10, "reason": f"because {i}"}
                                        for n, i in enumerate(items)]} for (u, a), items in lists.items()}
        self.fetched: list[tuple[str, str]] = []

    def index(self, tenant_id):
        return [{"user_id": u, "algorithm": a, "n": len(r["items"])} for (u, a), r in sorted(self.rows.items())]

    def get_lists(self, tenant_id, pairs):
        pairs = list(pairs)
        self.fetched += pairs
        return {p: self.rows[p] for p in pairs if p in self.rows}

    def user_lists(self, tenant_id, user_id):
        return [r for (u, _), r in sorted(self.rows.items()) if u == user_id]

    def get_list(self, tenant_id, user_id, algorithm):
        return self.rows.get((user_id, algorithm))

    def remove_item(self, tenant_id, user_id, algorithm, item_id):
        row = self.rows.get((user_id, algorithm))
        if row is None or item_id not in [i["id"] for i in row["items"]]:
            return False
        row["items"] = [i for i in row["items"] if i["id"] != item_id]
        return True


class Items:
    def __init__(self, known: set[str]):
        self.known = known

    def get_many(self, tenant_id, item_ids):
        return {i: {"item_id": i, "metadata": {"title": i.upper()}} for i in item_ids if i in self.known}


class EndUsers:
    def __init__(self, *users: EndUser):
        self.users = list(users)

    def all(self, tenant_id):
        return self.users


class Interactions:
    def __init__(self, users: list[str]):
        self.users = users

    def tenant_user_ids(self, tenant_id):
        return self.users


def user(user_id, email="", active=True, segments=()):
    return EndUser(user_id, email, user_id, "user", active, 1.0, 1.0, tuple(segments))


@pytest.fixture
def lists():
    return Lists({("u1", "hybrid"): ["a", "b", "c"], ("u2", "hybrid"): ["d", "e"],
                  ("u2", "popular"): ["f", "g", "h"], ("u3", "hybrid"): ["i"]})


def test_an_id_names_its_user_algorithm_and_item_and_nothing_else_parses():
    rec_id = recommendation_id("user#1", "hybrid", "sku/9")
    assert rec_id.startswith("rec_") and parse_recommendation_id(rec_id) == ("user#1", "hybrid", "sku/9")
    for bad in ("", "rec_", "rec_!!", "xyz_" + rec_id[4:], recommendation_id("u", "hybrid", "") + "x"):
        with pytest.raises(NotFoundError):
            parse_recommendation_id(bad)


def test_pages_cut_through_lists_and_read_only_the_lists_they_show(lists):
    items = Items(set("abcdefghi"))
    page = list_recommendations(lists, items, T, page=2, page_size=3)
    # index order: u1/hybrid a b c | u2/hybrid d e | u2/popular f g h | u3/hybrid i
    assert [r.item_id for r in page.records] == ["d", "e", "f"] and page.total == 9
    assert lists.fetched == [("u2", "hybrid"), ("u2", "popular")]
    everything = [r.item_id for p in (1, 2, 3, 4) for r in list_recommendations(lists, items, T, p, 3).records]
    assert everything == list("abcdefghi")


def test_the_user_and_algorithm_filters(lists):
    items = Items(set("abcdefghi"))
    page = list_recommendations(lists, items, T, 1, 10, user_id="u2")
    assert [(r.algorithm, r.item_id) for r in page.records] == [("hybrid", "d"), ("hybrid", "e"), ("popular", "f"),
                                                                 ("popular", "g"), ("popular", "h")]
    page = list_recommendations(lists, items, T, 1, 2, user_id="u2", algorithm="popular")
    assert [r.item_id for r in page.records] == ["f", "g"] and page.total == 3
    page = list_recommendations(lists, items, T, 1, 10, algorithm="hybrid")
    assert page.total == 6 and {r.algorithm for r in page.records} == {"hybrid"}
    assert list_recommendations(lists, items, T, 1, 10, user_id="nobody").total == 0


def test_a_record_carries_its_items_catalogue_metadata_or_null_once_the_item_is_gone(lists):
    page = list_recommendations(lists, Items({"a"}), T, 1, 2)
    assert [r.metadata for r in page.records] == [{"title": "A"}, None]
    body = presenters.recommendation_body(page.records[0])
    assert body == {"id": recommendation_id("u1", "hybrid", "a"), "userId": "u1", "itemId": "a", "score": 1.0,
                    "reason": "because a", "algorithm": "hybrid", "createdAt": "2025-10-09T08:53:20Z",
                    "metadata": {"title": "A"}}
    assert presenters.page_body(page)["total"] == 9 and presenters.page_body(page)["pageSize"] == 2


def test_a_caller_who_is_not_admin_gets_only_its_own_records(lists):
    own, other = recommendation_id("u1", "hybrid", "b"), recommendation_id("u2", "hybrid", "d")
    items = Items(set("abcdefghi"))
    assert service.get_recommendation(lists, items, T, own, owner="u1").item_id == "b"
    with pytest.raises(NotFoundError):
        service.get_recommendation(lists, items, T, other, owner="u1")
    assert service.get_recommendation(lists, items, T, other).user_id == "u2"  # an admin's read
    with pytest.raises(NotFoundError):
        service.get_recommendation(lists, items, T, recommendation_id("u1", "hybrid", "zzz"))


def test_deleting_takes_the_item_out_once(lists):
    rec = recommendation_id("u1", "hybrid", "b")
    service.delete_recommendation(lists, T, rec)
    assert [i["id"] for i in lists.rows[("u1", "hybrid")]["items"]] == ["a", "c"]
    with pytest.raises(NotFoundError):
        service.delete_recommendation(lists, T, rec)


def test_an_account_is_linked_to_the_end_user_with_its_email():
    users = EndUsers(user("u1", "Ann@Shop.example"), user("u2", "bob@shop.example"))
    assert service.linked_end_user(users, T, "ann@shop.example") == "u1"
    with pytest.raises(NotFoundError):
        service.linked_end_user(users, T, "carl@shop.example")
    with pytest.raises(NotFoundError):
        service.linked_end_user(EndUsers(user("u9", "")), T, "")  # an empty e-mail links nothing
    with pytest.raises(ConflictError):
        service.linked_end_user(EndUsers(user("u1", "a@x.example"), user("u2", "A@x.example")), T, "a@x.example")


def test_the_segments_a_generation_covers():
    users = EndUsers(user("u1", active=False), user("u2", segments=("vip",)), user("u3", segments=("vip", "new")))
    events = Interactions(["u1", "u2", "u4"])
    assert service.segment_users(users, events, T, "all") is None  # the batch job's own: every user with events
    assert service.segment_users(users, events, T, "active") == ["u2", "u4"]
    assert service.segment_users(EndUsers(user("u2")), events, T, "active") is None  # nobody inactive: all
    assert service.segment_users(users, events, T, "vip") == ["u2", "u3"]
    with pytest.raises(NotFoundError):  # nobody carries it: 404
        service.segment_users(users, events, T, "gold")


def test_generate_hands_the_selection_to_the_batch_job_and_estimates_its_end():
    asked = []

    def start(user_ids):
        asked.append(user_ids)
        return {"job_id": "batch-1", "status": "queued", "total_users": 2, "chunks": 1}

    started = service.generate(start, EndUsers(user("u2", segments=("vip",))), Interactions([]), T, "vip")
    assert asked == [["u2"]]
    assert presenters.generation_body(started) == {"jobId": "batch-1", "status": "processing", "users": 2,
                                                   "estimatedCompletionMs": service.CHUNK_START_MS
                                                   + 2 * service.PER_USER_MS}
    done = service.generate(lambda ids: {"job_id": "batch-2", "status": "succeeded", "total_users": 0, "chunks": 0},
                            EndUsers(), Interactions([]), T, "all")
    assert presenters.generation_body(done)["status"] == "completed" and done.estimated_completion_ms == 0


def test_an_end_users_segment_tags_cannot_take_the_built_in_segments_names():
    from pydantic import ValidationError

    from recengine.portal.schemas import EndUserBody

    body = EndUserBody.model_validate({"email": "a@shop.example", "name": "A", "segments": ["vip", "new", "vip"]})
    assert body.draft().segments == ("vip", "new")
    for reserved in ("all", "active"):
        with pytest.raises(ValidationError):
            EndUserBody.model_validate({"email": "a@shop.example", "name": "A", "segments": [reserved]})


def test_page_sizes_are_capped_and_generate_takes_the_seeds_body():
    from pydantic import ValidationError

    from recengine.stored_recommendations.schemas import GenerateBody, RecommendationsQuery

    assert RecommendationsQuery.model_validate({"pageSize": "100"}).pageSize == 100
    with pytest.raises(ValidationError):
        RecommendationsQuery.model_validate({"pageSize": "101"})
    body = GenerateBody.model_validate({"algorithm": "hybrid", "userSegment": "all", "count": 10})
    assert (body.algorithm, body.userSegment, body.count) == ("hybrid", "all", 10)
    with pytest.raises(ValidationError):
        GenerateBody.model_validate({"userSegment": "all", "count": 10, "user_ids": ["u1"]})
