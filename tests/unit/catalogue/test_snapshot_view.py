"""The catalogue snapshot file and the per-request view over it: rows round-trip, a damaged file is
refused, and later changes override earlier ones and the snapshot."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest

from recengine.catalogue.snapshot import SNAPSHOT_FILE, read_snapshot, write_snapshot
from recengine.catalogue.view import CatalogueView


class NoStore:
    def get_many(self, tenant_id, ids):
        raise AssertionError("the view must answer from memory")

    get = get_many


ROWS = [{"item_id": "a", "active": True, "metadata": {"title": "Å", "price": Decimal("9.5"), "n": Decimal("3")}},
        {"item_id": "b", "active": False, "metadata": {}},
        {"item_id": "c", "metadata": {"category": "x"}}]


def test_rows_round_trip(tmp_path):
    path = write_snapshot(tmp_path, 1234.5, ROWS)
    snapshot = read_snapshot(path)
    assert snapshot.taken_at == 1234.5 and len(snapshot) == 3 and "b" in snapshot
    assert snapshot.row("a") == {"item_id": "a", "active": True, "metadata": {"title": "Å", "price": 9.5, "n": 3}}
    assert snapshot.row("b")["active"] is False and snapshot.row("c")["active"] is True
    assert snapshot.row("zz") is None and snapshot.nbytes > 0


def test_an_empty_catalogue_is_a_valid_snapshot(tmp_path):
    snapshot = read_snapshot(write_snapshot(tmp_path, 1.0, []))
    assert len(snapshot) == 0 and snapshot.row("a") is None


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"not gzip",
                                    lambda b: gzip.compress(gzip.decompress(b).rsplit(b"\n", 2)[0] + b"\n")])
def test_a_damaged_file_is_refused(tmp_path, damage):
    path = write_snapshot(tmp_path, 1.0, ROWS)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError):
        read_snapshot(tmp_path / SNAPSHOT_FILE)


def test_changes_override_the_snapshot_in_order(tmp_path):
    snapshot = read_snapshot(write_snapshot(tmp_path, 1.0, ROWS))
    changes = [{"id": "a", "active": False},
               {"id": "c", "active": True, "metadata": {"category": "y"}},
               {"id": "a", "active": True, "metadata": {"title": "new"}},
               {"id": "d", "active": False}]
    view = CatalogueView(NoStore(), snapshot, changes)
    assert view.in_memory
    rows = view.get_many("t", ["a", "b", "c", "d", "never"])
    assert rows["a"] == {"item_id": "a", "active": True, "metadata": {"title": "new"}}
    assert rows["b"]["active"] is False and rows["c"]["metadata"] == {"category": "y"}
    assert rows["d"] == {"item_id": "d", "active": False} and "never" not in rows
    assert view.get("t", "a")["metadata"] == {"title": "new"}


def test_a_deactivation_keeps_the_metadata_it_did_not_change(tmp_path):
    snapshot = read_snapshot(write_snapshot(tmp_path, 1.0, ROWS))
    row = CatalogueView(NoStore(), snapshot, [{"id": "c", "active": False}]).get("t", "c")
    assert row == {"item_id": "c", "active": False, "metadata": {"category": "x"}}


def test_without_changes_or_snapshot_the_store_answers(tmp_path):
    snapshot = read_snapshot(write_snapshot(tmp_path, 1.0, ROWS))

    class Store:
        def get_many(self, tenant_id, ids):
            return {"a": {"item_id": "a", "active": False}}

        def get(self, tenant_id, item_id):
            return None

    for view in (CatalogueView(Store(), snapshot, None), CatalogueView(Store(), None, [])):
        assert not view.in_memory and view.get_many("t", ["a"]) == {"a": {"item_id": "a", "active": False}}
