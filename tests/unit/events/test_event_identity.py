"""What makes two events with one id the same event, and which stored rows a reader can use."""

from __future__ import annotations

from recengine.catalogue.model import item_row_problem
from recengine.events.model import event_row_problem, fingerprint

EVENT = {"user_id": "u", "session_id": None, "item_id": "a", "type": "view", "value": None, "timestamp": None,
         "request_id": None, "context": {"n": 5}}


def test_the_fingerprint_is_what_the_caller_sent_as_dynamodb_keeps_it():
    assert fingerprint(EVENT) == fingerprint({**EVENT, "context": {"n": 5.0}})  # one number in DynamoDB
    assert fingerprint({**EVENT, "context": None}) == fingerprint({**EVENT, "context": {}})
    assert fingerprint(EVENT) == fingerprint({**EVENT, "weight": 9, "event_id": "x"})  # server-set fields
    for change in ({"user_id": "v"}, {"item_id": "b"}, {"type": "click"}, {"value": 2.0}, {"timestamp": 1.7e9},
                   {"context": {"n": 6}}, {"session_id": "s"}, {"request_id": "r"}):
        assert fingerprint({**EVENT, **change}) != fingerprint(EVENT), change
    assert fingerprint({**EVENT, "timestamp": 1.7e9}, with_timestamp=False) == fingerprint(EVENT, with_timestamp=False)


def test_rows_a_reader_cannot_use_are_named():
    row = {"sk": "1#e", "item_id": "a", "type": "view", "weight": 1, "ts": 1.7e9, "user_id": "u", "event_id": "e"}
    assert event_row_problem(row, user_row=True, full=True) is None
    assert event_row_problem({**row, "weight": "heavy"})
    assert event_row_problem({**row, "weight": float("nan")})
    assert event_row_problem({**row, "context": ["x"]})
    assert event_row_problem({k: v for k, v in row.items() if k != "user_id"}, user_row=True)
    assert event_row_problem({k: v for k, v in row.items() if k != "event_id"}, full=True)
    assert event_row_problem({k: v for k, v in row.items() if k != "event_id"}) is None
    item = {"item_id": "a", "metadata": {"t": [1, {"x": None}]}, "active": True, "created_at": 1.0}
    assert item_row_problem(item) is None
    for bad in ({"metadata": "text"}, {"metadata": {"b": b"\x00"}}, {"metadata": {"f": float("inf")}},
                {"active": "yes"}, {"created_at": "yesterday"}, {"item_id": 7}):
        assert item_row_problem({**item, **bad}), bad
