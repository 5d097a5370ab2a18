"""The pure parts of a user erasure: which lines of a batch output are the user's, and how the
counts of a deferred attempt and the attempt that finished add up."""

from __future__ import annotations

import json

from recengine.batch.outputs import without_user
from recengine.users.erasure import merge_counts


def lines(*rows) -> bytes:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()


def test_only_the_users_own_lines_are_dropped():
    body = lines({"user_id": "u1", "items": []}, {"user_id": "u10", "items": []},
                 {"user_id": "x", "items": [{"id": "u1"}]}, {"user_id": "u1", "algorithm": "ease"})
    kept, dropped = without_user(body, "u1")
    assert dropped == 2
    assert [json.loads(line)["user_id"] for line in kept.splitlines()] == ["u10", "x"]


def test_a_line_that_is_not_json_is_kept_and_nothing_is_dropped_for_a_stranger():
    body = b'not json "user_id": "u1"\n' + lines({"user_id": "u2"})
    assert without_user(body, "u1") == (body, 0)
    assert without_user(body, "nobody") == (body, 0)


def test_the_only_users_part_becomes_empty():
    assert without_user(lines({"user_id": "u1"}), "u1") == (b"", 1)


def test_the_counts_of_every_attempt_add_up():
    first = {"history_rows": 3, "event_claims": 3, "session_rows": 2, "exposures": 1, "user_uncounted": True}
    second = {"history_rows": 0, "event_claims": 0, "session_rows": 0, "exposures": 0, "user_uncounted": False,
              "stored_lists": 1, "batch_lines_removed": 2}
    total = merge_counts(first, second)
    assert total["history_rows"] == 3 and total["user_uncounted"] is True
    assert total["stored_lists"] == 1 and total["batch_lines_removed"] == 2
    assert merge_counts(None, second) == {**second, "batch_objects_rewritten": 0, "batch_versions_deleted": 0}
