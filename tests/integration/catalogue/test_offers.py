"""Offers through the items handlers: decisioning fields and creatives stored, shown on /v1/items and
/api/items, refused as problem+json when invalid, and carried by the serving snapshot and the change
record after training."""

from __future__ import annotations

from recengine.catalogue.model import offer_fields
from recengine.catalogue.view import CatalogueView
from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train

HERO = {"id": "c-hero", "channel": "email", "placement": "hero_banner", "headline": "20% off"}
OFFER = {"id": "offer-gold", "title": "Gold card", "channels": ["email", "web"], "placements": ["hero_banner"],
         "startAt": "2026-12-01T00:00:00Z", "endAt": "2027-01-01T00:00:00+00:00", "priority": 3, "value": 120.0,
         "creatives": [HERO, {"id": "c-side", "channel": "web", "placement": "sidebar"}]}


def test_offer_fields_are_stored_and_shown_in_both_dialects(aws, api):
    caller = aws.tenant()
    status, _, body = api("POST", "/v1/items", caller=caller, body={"items": [OFFER, {"id": "plain-mug"}]})
    assert status == 200 and body["created"] == 2, body
    _, _, item = api("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "offer-gold"})
    assert item["metadata"] == {"title": "Gold card"} and item["channels"] == ["email", "web"]
    assert item["start_at"] == "2026-12-01T00:00:00Z" and item["end_at"] == "2027-01-01T00:00:00Z"
    assert item["priority"] == 3 and item["value"] == 120 and item["creatives"][0] == HERO
    _, _, seed = api("GET", "/api/items/{item_id}", caller=caller, path_params={"item_id": "offer-gold"})
    assert seed["startAt"] == "2026-12-01T00:00:00Z" and seed["placements"] == ["hero_banner"]
    assert seed["creatives"][1]["id"] == "c-side"
    _, _, plain = api("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "plain-mug"})
    assert "channels" not in plain and "creatives" not in plain
    _, _, page = api("GET", "/api/items", caller=caller)
    assert [i.get("priority") for i in page["data"]] == [3, None]


def test_an_update_replaces_the_offer_fields(aws, api):
    caller = aws.tenant()
    api("POST", "/v1/items", caller=caller, body={"items": [OFFER]})
    api("POST", "/v1/items", caller=caller, body={"items": [{"id": "offer-gold", "channels": ["sms"]}]})
    _, _, item = api("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "offer-gold"})
    assert item["channels"] == ["sms"] and "creatives" not in item and "priority" not in item


def test_invalid_offers_are_rejected_by_index_as_problems(aws, api):
    caller = aws.tenant()
    bad = {**OFFER, "id": "bad", "creatives": [{"id": "no spaces allowed"}]}
    status, _, body = api("POST", "/v1/items", caller=caller, body={"items": [OFFER, bad]})
    assert status == 207 and body["ids"] == ["offer-gold"]
    assert body["rejected"][0]["index"] == 1
    assert body["rejected"][0]["errors"][0]["field"] == "items.1.offer.creatives.0.id"
    status, headers, problem = api("POST", "/v1/items", caller=caller,
                                    body={"items": [{"id": "late", "start_at": "2027-01-02", "end_at": "2027-01-01"}]})
    assert status == 422 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/validation-error"


def test_the_serving_snapshot_and_the_change_record_carry_offer_fields(aws, api):
    caller = aws.tenant("offers-snap")
    seed_tenant(api, caller, users=20, items=30, events=8, seed=3)
    assert api("POST", "/v1/items", caller=caller, body={"items": [OFFER]})[0] == 200
    train(caller)
    c = runtime()
    model = c.models.get(caller.tenant_id)
    snapshot = c.models.catalogue(caller.tenant_id, model.model_id)
    assert offer_fields(snapshot.row("offer-gold"))["creatives"][0] == HERO
    changed = {"id": "offer-gold", "channels": ["web"], "creatives": [{"id": "c-new", "channel": "web"}]}
    assert api("POST", "/v1/items", caller=caller, body={"items": [changed]})[0] == 200
    view = CatalogueView(c.items, snapshot, c.items.changes_since(caller.tenant_id, snapshot.taken_at))
    assert view.in_memory
    assert offer_fields(view.get(caller.tenant_id, "offer-gold")) == {"channels": ["web"],
                                                                      "creatives": [{"id": "c-new", "channel": "web"}]}
