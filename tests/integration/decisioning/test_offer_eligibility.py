"""Offers on the recommend path, through the handlers on moto: every list holds only the offers
eligible for the request's channel, channel id, placement (each list's own for a multi-placement
request) and time, less the caller's excluded offers and creatives, each offer with the creative
that fits; an item without decisioning fields stays eligible everywhere; request rules read the
offer fields. The same in the offer-decisioning dialect (`decisions[].creativeId`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.conftest import seed_tenant, train


def _iso(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


A, B, C, D, E, F, G = (f"item-{i:05d}" for i in range(7))
OFFERS = {
    A: {"channels": ["email"], "placements": ["hero_banner"], "priority": 9,
        "creatives": [{"id": "c-a-side", "channel": "web", "placement": "sidebar"},
                      {"id": "c-a-hero", "channel": "email", "placement": "hero_banner", "headline": "A for you"}]},
    B: {"channels": ["web"], "placements": ["sidebar"], "priority": 8,
        "creatives": [{"id": "c-b-side", "channel": "web", "placement": "sidebar"}]},
    C: {"channels": ["email", "web"], "priority": 2, "creatives": [{"id": "c-c-any", "body": "fits anywhere"}]},
    D: {},  # no decisioning fields: eligible everywhere, no creative
    E: {"channels": ["email"], "end_at": _iso(-1), "priority": 7},  # ended yesterday
    F: {"channels": ["email"], "start_at": _iso(1), "priority": 6},  # starts tomorrow
    G: {"channels": ["email"], "priority": 5,
        "creatives": [{"id": "c-g-side", "placement": "sidebar"}]},  # no creative for the hero banner
}
CANDIDATES = list(OFFERS)


@pytest.fixture
def shop(aws, api):
    caller = aws.tenant("offer-shop")
    seed_tenant(api, caller, users=30, items=40, events=8)
    train(caller)
    # decisioning fields laid on items the model knows, after training: the change record carries them
    items = [{"id": item, "category": "offers", **fields} for item, fields in OFFERS.items()]
    status, _, body = api("POST", "/v1/items", caller=caller, body={"items": items})
    assert status == 200, body
    return caller


def recommend(api, caller, **body):
    status, _, answer = api("POST", "/v1/recommend", caller=caller,
                            body={"user_id": "offer-customer", "item_ids": CANDIDATES, "limit": 10, **body})
    assert status == 200, answer
    return answer


def shown(items):
    return {i["id"]: (i.get("creative") or {}).get("id") for i in items}


def test_channel_and_placement_keep_only_eligible_offers_each_with_its_creative(api, shop):
    answer = recommend(api, shop, channel="email", placement="hero_banner", debug=True)
    assert shown(answer["items"]) == {A: "c-a-hero", C: "c-c-any", D: None}
    hero = next(i for i in answer["items"] if i["id"] == A)
    assert hero["creative"] == OFFERS[A]["creatives"][1]  # the whole creative, its content included
    reasons = {f["id"]: f["reason"] for f in answer["debug"]["filtered"]}
    assert reasons[B].startswith("offer: channel_mismatch")
    assert reasons[E].startswith("offer: ended") and reasons[F].startswith("offer: not_started")
    assert reasons[G].startswith("offer: no_matching_creative")


def test_without_channel_or_placement_only_the_window_limits_and_the_first_creative_is_shown(api, shop):
    answer = recommend(api, shop)
    assert shown(answer["items"]) == {A: "c-a-side", B: "c-b-side", C: "c-c-any", D: None, G: "c-g-side"}


def test_excluded_creatives_and_offers_are_never_shown(api, shop):
    answer = recommend(api, shop, channel="email", placement="hero_banner", excludeCreatives=["c-a-hero"],
                       excludeOffers=[D])
    assert shown(answer["items"]) == {C: "c-c-any"}  # A has no other creative for the hero banner
    answer = recommend(api, shop, channel="web", excludeCreatives=["c-c-any"])
    assert C not in shown(answer["items"])  # every creative of C excluded: C is not eligible


def test_each_placement_of_a_request_gets_its_own_eligible_offers_and_creatives(api, shop):
    answer = recommend(api, shop, channel="web",
                       placements=[{"placementId": "hero_banner"}, {"placementId": "sidebar"}])
    lists = {p["placement_id"]: shown(p["items"]) for p in answer["placements"]}
    assert lists["hero_banner"] == {C: "c-c-any", D: None}
    assert lists["sidebar"] == {B: "c-b-side", C: "c-c-any", D: None}


def test_request_rules_read_the_offer_fields(api, shop):
    answer = recommend(api, shop, rules=[{"field": "priority", "op": "gte", "value": 5}])
    assert set(shown(answer["items"])) == {A, B, G}  # E ended, F not started; C (2) and D (none) fail the rule


def test_the_decisioning_dialect_names_each_decisions_creative(api, shop):
    status, _, answer = api("POST", "/api/v1/recommend", caller=shop, headers={"X-Tenant-Id": shop.tenant_id}, body={
        "customerId": "offer-customer", "channel": "email", "placement": "hero_banner", "itemIds": CANDIDATES,
        "limit": 10})
    assert status == 200, answer
    decisions = {d["offerId"]: d.get("creativeId") for d in answer["decisions"]}
    assert decisions == {A: "c-a-hero", C: "c-c-any", D: None}
    assert next(d for d in answer["decisions"] if d["offerId"] == A)["creative"]["headline"] == "A for you"
