"""An item's decisioning fields (offers and creatives): what the edge accepts and refuses, how they are
stored (times in UTC), and that the serving snapshot and the change record carry them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from recengine.catalogue.model import Item, decision_document, item_row_problem, offer_fields
from recengine.catalogue.presenters import item_body, seed_item_body
from recengine.catalogue.schemas import MAX_CREATIVES, ItemIn
from recengine.catalogue.snapshot import read_snapshot, write_snapshot
from recengine.catalogue.view import CatalogueView

OFFER = {"channels": ["email", "web"], "placements": ["hero_banner"], "start_at": "2026-12-01T00:00:00Z",
         "end_at": "2026-12-31T00:00:00Z", "priority": 2, "value": 49.5,
         "creatives": [{"id": "c-1", "channel": "email", "placement": "hero_banner", "headline": "Hi",
                        "image": {"url": "https://x/y.png", "width": 600}}]}


def draft(body: dict):
    return ItemIn.model_validate(body).draft()


def test_decisioning_fields_at_the_top_level_are_kept_apart_from_metadata():
    d = draft({"id": "card", "title": "Gold card", **OFFER})
    assert d.metadata == {"title": "Gold card"} and d.offer == OFFER


def test_the_same_fields_may_come_nested_under_offer():
    assert draft({"id": "card", "offer": OFFER}).offer == OFFER


def test_camel_case_window_names_and_offsets_are_stored_as_utc():
    d = draft({"id": "card", "startAt": "2026-12-01T01:00:00+01:00", "endAt": "2026-12-02"})
    assert d.offer == {"start_at": "2026-12-01T00:00:00Z", "end_at": "2026-12-02T00:00:00Z"}


def test_an_item_without_decisioning_fields_stores_none():
    assert draft({"id": "mug", "price": 3}).offer == {}


@pytest.mark.parametrize("body,where", [
    ({"channels": []}, "offer.channels"),
    ({"channels": ["email", "email"]}, "offer"),
    ({"placements": ["x" * 65]}, "offer.placements.0"),
    ({"start_at": "soon"}, "offer.start_at"),
    ({"start_at": "2026-12-02T00:00:00Z", "end_at": "2026-12-01T00:00:00Z"}, "offer"),
    ({"priority": "high"}, "offer.priority"),
    ({"value": 1e200}, "offer.value"),
    ({"creatives": [{"channel": "email"}]}, "offer.creatives.0.id"),
    ({"creatives": [{"id": "has space"}]}, "offer.creatives.0.id"),
    ({"creatives": [{"id": "x" * 129}]}, "offer.creatives.0.id"),
    ({"creatives": [{"id": "a"}, {"id": "a"}]}, "offer"),
    ({"creatives": [{"id": "a", "body": "x" * 5000}]}, "offer.creatives.0"),
    ({"creatives": [{"id": f"c{n}"} for n in range(MAX_CREATIVES + 1)]}, "offer.creatives"),
    ({"offer": {"unknown": 1}}, "offer.unknown"),
])
def test_invalid_decisioning_fields_are_refused_naming_the_field(body, where):
    with pytest.raises(ValidationError) as info:
        ItemIn.model_validate({"id": "card", **body})
    assert where in {".".join(map(str, e["loc"])) for e in info.value.errors()}


def test_rows_hand_their_fields_to_items_and_presenters():
    row = {"item_id": "card", "metadata": {"title": "Gold", "value": 1}, "active": True, "offer": OFFER,
           "created_at": 1.0, "updated_at": 2.0}
    assert item_row_problem(row) is None and item_row_problem({**row, "offer": "x"}) is not None
    item = Item.from_row(row)
    assert item_body(item)["creatives"] == OFFER["creatives"] and item_body(item)["start_at"] == OFFER["start_at"]
    seed = seed_item_body(item, "t1")
    assert seed["startAt"] == OFFER["start_at"] and seed["endAt"] == OFFER["end_at"] and "start_at" not in seed
    assert "channels" not in item_body(Item.from_row({**row, "offer": {}}))
    # flows and rules read the offer's own value and priority over metadata of the same name
    assert decision_document(row)["value"] == 49.5 and decision_document(row)["title"] == "Gold"
    assert offer_fields({"item_id": "old"}) == {}


def test_the_snapshot_carries_decisioning_fields_and_changes_replace_them(tmp_path):
    rows = [{"item_id": "card", "active": True, "metadata": {}, "offer": OFFER},
            {"item_id": "mug", "active": True, "metadata": {"t": 1}, "offer": {}}]
    snapshot = read_snapshot(write_snapshot(tmp_path, 1.0, rows))
    assert snapshot.row("card")["offer"] == OFFER and "offer" not in snapshot.row("mug")
    changes = [{"id": "card", "active": True, "metadata": {}, "offer": {"channels": ["sms"]}},
               {"id": "mug", "active": True, "metadata": {"t": 1}, "offer": {"priority": 5}}]
    view = CatalogueView(None, snapshot, changes)
    assert offer_fields(view.get("t", "card")) == {"channels": ["sms"]}
    assert offer_fields(view.get("t", "mug")) == {"priority": 5}
    # a deactivation changes only the flag: the offer stays as it was
    view = CatalogueView(None, snapshot, [{"id": "card", "active": False}])
    assert view.get("t", "card")["offer"] == OFFER and view.get("t", "card")["active"] is False
