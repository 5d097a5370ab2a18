"""Request models put a limit on every input."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from recengine.catalogue.schemas import ItemIn, UpsertItemsRequest
from recengine.events.schemas import InteractionIn, InteractionsRequest
from recengine.ranking.schemas import RecommendRequest


def test_item_top_level_fields_become_metadata():
    item = ItemIn.model_validate({"id": "a", "title": "T", "category": "c", "metadata": {"price": 3}})
    assert item.metadata == {"price": 3, "title": "T", "category": "c"} and item.active is True


def test_item_batches_are_capped_and_ids_unique():
    with pytest.raises(ValidationError):
        UpsertItemsRequest.model_validate({"items": [{"id": str(i)} for i in range(501)]})
    with pytest.raises(ValidationError):
        UpsertItemsRequest.model_validate({"items": [{"id": "a"}, {"id": "a"}]})
    with pytest.raises(ValidationError):
        ItemIn.model_validate({"id": "a", "metadata": {"blob": "x" * 20_000}})


def test_interaction_needs_a_user_or_a_session_and_a_known_type():
    with pytest.raises(ValidationError):
        InteractionIn.model_validate({"item_id": "a", "type": "view"})
    with pytest.raises(ValidationError):
        InteractionIn.model_validate({"user_id": "u", "item_id": "a", "type": "stare"})
    assert InteractionIn.model_validate({"session_id": "s", "item_id": "a", "type": "like"}).session_id == "s"


def test_interaction_timestamps_accept_iso_or_epoch_and_refuse_the_future():
    iso = InteractionIn.model_validate({"user_id": "u", "item_id": "a", "type": "view", "timestamp": "2026-01-01T00:00:00Z"})
    assert iso.timestamp == pytest.approx(1767225600.0)
    with pytest.raises(ValidationError):
        InteractionIn.model_validate({"user_id": "u", "item_id": "a", "type": "view", "timestamp": time.time() + 86400})


def test_a_bare_event_is_a_batch_of_one_and_batches_are_capped():
    assert len(InteractionsRequest.model_validate({"user_id": "u", "item_id": "a", "type": "view"}).interactions) == 1
    with pytest.raises(ValidationError):
        InteractionsRequest.model_validate({"interactions": [{"user_id": "u", "item_id": "a", "type": "view"}] * 501})


def test_recommend_limits():
    assert RecommendRequest.model_validate({"user_id": "u"}).limit == 10
    for bad in ({"user_id": "u", "limit": 0}, {"user_id": "u", "item_ids": ["x"] * 1001}, {"user_id": ""},
                {"user_id": "u", "exclude_items": ["x"] * 1001}, {"user_id": "u", "segments": ["s"] * 51},
                {"user_id": "u", "context": {f"k{i}": i for i in range(33)}},
                {"user_id": "u", "attributes": {"blob": "x" * 5000}}, {"user_id": "u", "surface": "s" * 65},
                {"user_id": "u", "placements": [{"placement_id": f"p{i}"} for i in range(11)]},
                {"user_id": "u", "rules": [{"field": "a", "op": "exists"}] * 21},
                {"user_id": "u", "frequency_cap": {"max_impressions": 0, "window_hours": 1}},
                {"user_id": "u", "timeout_ms": 1}):
        with pytest.raises(ValidationError):
            RecommendRequest.model_validate(bad)
    # Accepted and explained in warnings instead: too large a limit (clipped), no identity
    # (anonymous), fields other APIs send.
    loose = RecommendRequest.model_validate({"limit": 101, "surprise": 1})
    assert loose.limit == 101 and loose.user_id is None and loose.ignored_fields == ["surprise"]


def test_recommend_aliases_name_one_canonical_request():
    canonical = RecommendRequest.model_validate({"user_id": "u", "session_id": "s", "limit": 3, "model_id": "model_a-v1_x",
                                                 "surface": "home", "exclude_items": ["a"], "item_ids": ["b"]})
    for aliased in ({"userId": "u", "sessionId": "s", "k": 3, "model_name": "model_a-v1_x", "placement": "home",
                     "excludeOffers": ["a"], "itemIds": ["b"]},
                    {"customerId": "u", "user": {"session_id": "s"}, "count": 3, "modelId": "model_a-v1_x",
                     "channel": "home", "excludeItems": ["a"], "candidates": ["b"]},
                    {"user": {"user_id": "u", "session_id": "s"}, "limit": 3, "model_id": "model_a-v1_x",
                     "surface": "home", "exclude_items": ["a"], "item_ids": ["b"]}):
        got = RecommendRequest.model_validate(aliased)
        # channel and placement also stay themselves (decision flows route and offers are eligible on them)
        assert got.model_dump(exclude={"channel", "placement"}) == canonical.model_dump(exclude={"channel", "placement"})
    both = RecommendRequest.model_validate({"user_id": "u", "placement": "hero", "channel": "web"})
    assert (both.surface, both.channel, both.placement) == ("hero", "web", "hero")


def test_tenant_ids_cannot_carry_key_separators():
    from recengine.tenancy.model import Tenant

    assert Tenant("acme-1", "Acme", "growth", 0.0).tenant_id == "acme-1"
    for bad in ("a#b", "", "UPPER", "-lead", "x" * 64):
        with pytest.raises(ValueError):
            Tenant(bad, "n", "growth", 0.0)


def test_similar_and_interactions_accept_camel_case_names():
    from recengine.ranking.schemas import SimilarRequest

    assert SimilarRequest.model_validate({"itemId": "i", "count": 5}).model_dump() == \
        SimilarRequest.model_validate({"item_id": "i", "limit": 5}).model_dump()
    camel = InteractionsRequest.model_validate({"userId": "u", "itemId": "i", "interactionType": "purchase",
                                                "value": 1.0, "requestId": "r-1", "eventId": "e-1"})
    snake = InteractionsRequest.model_validate({"user_id": "u", "item_id": "i", "type": "purchase", "value": 1.0,
                                                "request_id": "r-1", "event_id": "e-1"})
    assert camel.model_dump() == snake.model_dump()
    with pytest.raises(ValidationError):
        InteractionsRequest.model_validate({"userId": "u", "itemId": "i", "interactionType": "purchase", "colour": 1})
