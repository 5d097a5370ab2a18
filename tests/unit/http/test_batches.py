"""Batches taken entry by entry: the envelope is a whole-request 4xx, each entry is judged alone."""

from __future__ import annotations

import pytest

from recengine.catalogue.schemas import UpsertItemsRequest
from recengine.events.schemas import InteractionsRequest
from recengine.http.batches import batch_status, nothing_accepted
from recengine.http.problems import ValidationFailed


def test_invalid_entries_are_rejected_by_index_and_the_others_kept():
    batch = UpsertItemsRequest.split({"items": [{"id": "a"}, {"id": ""}, {"id": "b", "x": float("nan")}, {"id": "a"},
                                                7, {"id": "c"}]})
    assert [(n, item.id) for n, item in batch.entries] == [(0, "a"), (5, "c")]
    assert [(r["index"], r["errors"][0]["field"], r["errors"][0]["code"]) for r in batch.rejected] == [
        (1, "items.1.id", "string_too_short"), (2, "items.2.metadata.x", "invalid_json_value"),
        (3, "items.3", "duplicate_in_batch"), (4, "items.4", "model_type")]
    assert batch_status(200, batch.rejected) == 207 and batch_status(201, []) == 201


@pytest.mark.parametrize("body", [[{"id": "a"}], {"items": []}, {"items": [{"id": "a"}] * 501}, {"items": "a"},
                                  {"items": [{"id": "a"}], "other": 1}, None])
def test_whole_request_problems_are_refused_whole(body):
    with pytest.raises(ValidationFailed) as caught:
        UpsertItemsRequest.split(body)
    assert caught.value.extra is None


def test_a_bare_event_is_a_batch_of_one_and_repeated_event_ids_are_left_to_the_store():
    batch = InteractionsRequest.split({"userId": "u", "itemId": "i", "interactionType": "view", "eventId": "e"})
    assert len(batch.entries) == 1 and batch.entries[0][1].event_id == "e"
    event = {"user_id": "u", "item_id": "i", "type": "view", "event_id": "e"}
    assert len(InteractionsRequest.split({"interactions": [event, event]}).entries) == 2


def test_nothing_accepted_is_422_or_409_when_every_refusal_is_a_conflict():
    conflict = {"index": 0, "errors": [{"field": "interactions.0.event_id", "message": "m", "code": "conflict"}]}
    invalid = {"index": 1, "errors": [{"field": "interactions.1.type", "message": "m", "code": "literal_error"}]}
    assert nothing_accepted([conflict]).status == 409
    problem = nothing_accepted([conflict, invalid])
    assert problem.status == 422 and problem.extra == {"rejected": [conflict, invalid]} and len(problem.errors) == 2
