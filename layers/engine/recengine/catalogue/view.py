"""The catalogue as one request sees it: the model's snapshot with the change record read at the
start of the request laid over it. It answers `get`/`get_many` like the items store, from memory;
without a usable snapshot (no model yet, an artefact from before snapshots, a change record too long
or unreadable) it is the store itself, one read per lookup, as before."""

from __future__ import annotations

from typing import Iterable

from .snapshot import CatalogueSnapshot
from .store import ItemStore


class CatalogueView:
    def __init__(self, store: ItemStore, snapshot: CatalogueSnapshot | None = None,
                 changes: list[dict] | None = None):
        self.store = store
        self.snapshot = snapshot if changes is not None else None
        self._changed: dict[str, dict] = {}
        for change in changes or ():  # oldest first: a later change of an item overrides an earlier one
            before = self._changed.get(change["id"]) or (snapshot.row(change["id"]) if snapshot else None) or {}
            fields = {k: v for k, v in change.items() if k != "id"}
            self._changed[change["id"]] = {**before, **fields, "item_id": change["id"]}

    @property
    def in_memory(self) -> bool:
        """True when lookups are answered from the snapshot and the change record (no AWS call)."""
        return self.snapshot is not None

    def _row(self, item_id: str) -> dict | None:
        changed = self._changed.get(item_id)
        return changed if changed is not None else self.snapshot.row(item_id)

    def get(self, tenant_id: str, item_id: str) -> dict | None:
        if self.snapshot is None:
            return self.store.get(tenant_id, item_id)
        return self._row(item_id)

    def get_many(self, tenant_id: str, item_ids: Iterable[str]) -> dict[str, dict]:
        """The rows of the items the catalogue has (items it never had are left out, as by the store)."""
        if self.snapshot is None:
            return self.store.get_many(tenant_id, item_ids)
        found = {}
        for item_id in dict.fromkeys(item_ids):
            row = self._row(item_id)
            if row is not None:
                found[item_id] = row
        return found
