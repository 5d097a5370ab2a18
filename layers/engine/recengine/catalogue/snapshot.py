"""The catalogue as ranking needs it (active flag, metadata: rule fields, titles, categories, and the
decisioning fields of offers: channels, placements, window, priority, value, creatives),
captured when a model is trained and shipped inside its artefact, so that a request reads the
catalogue from memory instead of the items table. What changed since the capture comes from the
change record (catalogue.store.ItemStore.changes_since) and is laid over it per request
(catalogue.view.CatalogueView).

The file is one gzip'd JSON-lines blob: a header line (format, capture time, the ids in order), then
one line per item in that order. Loading keeps the decompressed bytes and the line offsets and
parses a row only when a request asks for it: 100k items cost one decompression and one newline
scan, not 100k dicts."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import numpy as np

SNAPSHOT_FILE = "catalogue.jsonl.gz"
FORMAT = 1
PARSED_CAP = 20_000  # rows kept parsed (the ones requests keep asking for); the rest are parsed per use
PARSED_ROW_BYTES = 1000  # what the memory budget charges for a parsed row


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_snapshot(directory: Path, taken_at: float, rows: Iterable[dict]) -> Path:
    """Writes the snapshot of `rows` (item rows as the items table holds them) into `directory`.
    `taken_at` must be read BEFORE the rows were: every write after it is in the change record."""
    ids: list[str] = []
    lines: list[bytes] = []
    for row in rows:
        ids.append(row["item_id"])
        line = {"active": bool(row.get("active", True)), "metadata": row.get("metadata") or {}}
        if row.get("offer"):  # decisioning fields: only items that declare some carry them
            line["offer"] = row["offer"]
        lines.append(json.dumps(line, default=_plain, separators=(",", ":"), ensure_ascii=False).encode())
    header = json.dumps({"format": FORMAT, "taken_at": taken_at, "ids": ids}, separators=(",", ":")).encode()
    path = Path(directory) / SNAPSHOT_FILE
    path.write_bytes(gzip.compress(b"\n".join([header, *lines]) + b"\n", compresslevel=6, mtime=0))
    return path


@dataclass
class CatalogueSnapshot:
    """Item rows as of `taken_at`: `row(id)` is the item's {item_id, active, metadata[, offer]}, or None when
    the catalogue had no such item then."""

    taken_at: float
    _index: dict[str, int]
    _blob: bytes
    _offsets: np.ndarray  # start of each item's line; one more entry for the end
    _parsed: dict[str, dict] = field(default_factory=dict)  # rows requests have asked for

    @property
    def nbytes(self) -> int:
        """Memory held: the decompressed rows, their offsets, the id index (about 100 B an id) and the
    parsed rows (at most PARSED_CAP)."""
        return (len(self._blob) + self._offsets.nbytes + 100 * len(self._index)
                + PARSED_ROW_BYTES * min(len(self._index), PARSED_CAP))

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._index

    def row(self, item_id: str) -> dict | None:
        """The item's row (parsed on first use, then kept: callers must not change it)."""
        row = self._parsed.get(item_id)
        if row is not None:
            return row
        n = self._index.get(item_id)
        if n is None:
            return None
        line = self._blob[int(self._offsets[n]):int(self._offsets[n + 1]) - 1]
        row = {"item_id": item_id, **json.loads(line)}
        if len(self._parsed) < PARSED_CAP:
            self._parsed[item_id] = row
        return row


def read_snapshot(path: Path) -> CatalogueSnapshot:
    """Loads a snapshot written by write_snapshot; ValueError when the file is not one."""
    try:
        blob = gzip.decompress(Path(path).read_bytes())
    except (OSError, EOFError) as exc:
        raise ValueError(f"unreadable catalogue snapshot: {exc}") from exc
    ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == ord("\n"))
    if not len(ends):
        raise ValueError("empty catalogue snapshot")
    header = json.loads(blob[:int(ends[0])])
    if header.get("format") != FORMAT:
        raise ValueError(f"unknown catalogue snapshot format {header.get('format')!r}")
    ids = header["ids"]
    if len(ends) != len(ids) + 1:
        raise ValueError("catalogue snapshot is truncated")
    offsets = (ends + 1).astype(np.int64)  # item n's line starts after newline n (newline 0 ends the header)
    return CatalogueSnapshot(float(header["taken_at"]), {item_id: n for n, item_id in enumerate(ids)}, blob, offsets)
