"""The stored lists' index on moto: written with each list, counted down when an item is removed,
gone with an emptied list and with a user's erased lists; a list rewritten during a removal is read
again rather than overwritten."""

from __future__ import annotations

from recengine.runtime import runtime

T = "shop-index"


def put(user_id: str, algorithm: str, items: list[str], generated_at: float = 1.0) -> None:
    runtime().stored_lists.put_lists(T, [{"user_id": user_id, "algorithm": algorithm, "generated_at": generated_at,
                                          "items": [{"id": i, "score": 0.5} for i in items], "job_id": "batch-x"}])


def index() -> list[tuple[str, str, int]]:
    return [(r["user_id"], r["algorithm"], int(r["n"])) for r in runtime().stored_lists.index(T)]


def test_each_list_has_one_index_row_in_user_and_algorithm_order(aws):
    put("u2", "hybrid", ["a", "b"])
    put("u1", "popular", ["c"])
    put("u1", "hybrid", ["d", "e", "f"])
    put("u2", "hybrid", ["a", "b", "g"])  # a rewrite replaces its row
    assert index() == [("u1", "hybrid", 3), ("u1", "popular", 1), ("u2", "hybrid", 3)]
    assert runtime().stored_lists.index("another-tenant") == []


def test_removing_items_counts_down_and_an_emptied_list_goes_with_its_row(aws):
    lists = runtime().stored_lists
    put("u1", "hybrid", ["a", "b"])
    assert lists.remove_item(T, "u1", "hybrid", "a") is True
    assert index() == [("u1", "hybrid", 1)] and [i["id"] for i in lists.get_list(T, "u1", "hybrid")["items"]] == ["b"]
    assert lists.remove_item(T, "u1", "hybrid", "a") is False
    assert lists.remove_item(T, "u1", "hybrid", "b") is True
    assert index() == [] and lists.get_list(T, "u1", "hybrid") is None
    assert lists.remove_item(T, "u1", "hybrid", "b") is False


def test_a_list_rewritten_during_a_removal_is_read_again(aws, monkeypatch):
    lists = runtime().stored_lists
    put("u1", "hybrid", ["a", "b"], generated_at=1.0)
    real_get = lists.get_row
    rewrites = iter([lambda: put("u1", "hybrid", ["a", "b", "c"], generated_at=2.0)])

    def get_then_rewrite(key, consistent=False):
        row = real_get(key, consistent=consistent)
        next(rewrites, lambda: None)()  # the batch rewrites the list after the first read
        return row

    monkeypatch.setattr(lists, "get_row", get_then_rewrite)
    assert lists.remove_item(T, "u1", "hybrid", "a") is True
    assert [i["id"] for i in real_get({"pk": f"{T}#batch#u1", "sk": "algorithm#hybrid"})["items"]] == ["b", "c"]
    assert index() == [("u1", "hybrid", 2)]


def test_a_users_erased_lists_take_their_index_rows(aws):
    put("u1", "hybrid", ["a"])
    put("u1", "popular", ["b"])
    put("u2", "hybrid", ["c"])
    assert runtime().stored_lists.delete_user_lists(T, "u1") == 2
    assert index() == [("u2", "hybrid", 1)]
