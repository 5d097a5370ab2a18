"""Rating-file loaders for offline evaluation and bulk import (numpy + stdlib only).

Supported, detected from the content (gzip magic, separators, header), not from the file name:

- goodbooks-10k ``ratings.csv``: ``user_id,book_id,rating`` with a header, no timestamps. The rows
  are in chronological order per user, so the file order is kept in ``Ratings.order``.
- MovieLens 100k ``u.data``: ``user<TAB>item<TAB>rating<TAB>timestamp``, no header.
- MovieLens 1M/10M ``ratings.dat``: ``user::item::rating::timestamp``, no header.
- MovieLens ``ratings.csv`` (20M/25M/latest): ``userId,movieId,rating,timestamp`` with a header.

A headerless comma file with 3 or 4 columns is read as user,item,rating[,timestamp].
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOODBOOKS = "goodbooks"
MOVIELENS_UDATA = "movielens-udata"
MOVIELENS_DAT = "movielens-dat"
MOVIELENS_CSV = "movielens-csv"
CSV = "csv"

_USER_COLUMNS = ("user_id", "userid", "user")
_ITEM_COLUMNS = ("book_id", "bookid", "movie_id", "movieid", "item_id", "itemid", "item")
_RATING_COLUMNS = ("rating", "score", "value")
_TIME_COLUMNS = ("timestamp", "time", "ts")


@dataclass(frozen=True)
class Ratings:
    """Explicit ratings as parallel arrays, in file order."""

    users: np.ndarray  # str
    items: np.ndarray  # str
    ratings: np.ndarray  # float64
    timestamps: np.ndarray | None  # float64 epoch seconds, or None when the format has none
    order: np.ndarray  # int64: position of the row among the file's data rows (0-based)
    format: str
    source: str = ""

    def __len__(self) -> int:
        return int(self.ratings.size)


def read_text(path: str | Path) -> str:
    """The file's text; gzip is recognised by its magic bytes, whatever the name."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _first_line(text: str) -> str:
    for line in io.StringIO(text):
        if line.strip():
            return line.rstrip("\r\n")
    raise ValueError("empty ratings file")


def detect_format(text: str) -> tuple[str, str, list[str] | None]:
    """(format, separator, header columns or None) from the first non-empty line."""
    line = _first_line(text)
    if "::" in line:
        return MOVIELENS_DAT, "::", None
    if "\t" in line:
        return MOVIELENS_UDATA, "\t", None
    if "," in line:
        fields = [f.strip().strip('"').strip() for f in next(csv.reader([line]))]
        if all(_is_number(f) for f in fields):
            if len(fields) not in (3, 4):
                raise ValueError(f"headerless CSV with {len(fields)} columns; expected user,item,rating[,timestamp]")
            return CSV, ",", None
        names = [f.lower() for f in fields]
        if "userid" in names and "movieid" in names:
            return MOVIELENS_CSV, ",", names
        if "user_id" in names and "book_id" in names:
            return GOODBOOKS, ",", names
        return CSV, ",", names
    raise ValueError(f"unrecognised ratings format (first line {line[:80]!r})")


def _pick(names: list[str], candidates: tuple[str, ...], what: str, required: bool = True) -> int | None:
    for c in candidates:
        if c in names:
            return names.index(c)
    if required:
        raise ValueError(f"no {what} column in header {names}")
    return None


def _table(body: str, sep: str, ncols: int) -> np.ndarray:
    """(rows, ncols) str array. Fast path: one split() over the whole text; csv module if quoted/irregular."""
    if sep == "::":
        flat = body.replace("::", " ").split()
    elif sep == "\t":
        flat = body.split()
    else:
        flat = body.replace(",", " ").split() if '"' not in body else None
    n_lines = sum(1 for line in body.splitlines() if line.strip())
    if flat is not None and len(flat) == n_lines * ncols:
        return np.array(flat, dtype=str).reshape(-1, ncols)
    if sep == "::":
        rows = [line.split("::") for line in body.splitlines() if line.strip()]
    else:
        reader = csv.reader(io.StringIO(body), delimiter="\t" if sep == "\t" else ",")
        rows = [r for r in reader if any(x.strip() for x in r)]
    if any(len(r) != ncols for r in rows):
        raise ValueError(f"rows do not all have {ncols} columns")
    return np.array([[x.strip() for x in r] for r in rows], dtype=str).reshape(-1, ncols)


def parse_ratings(text: str, source: str = "") -> Ratings:
    fmt, sep, header = detect_format(text)
    if header is not None:
        stripped = text.lstrip()  # the header is the first non-empty line
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        ncols = len(header)
        cu, ci = _pick(header, _USER_COLUMNS, "user"), _pick(header, _ITEM_COLUMNS, "item")
        cr, ct = _pick(header, _RATING_COLUMNS, "rating"), _pick(header, _TIME_COLUMNS, "timestamp", False)
    else:
        body = text
        ncols = len(next(csv.reader([_first_line(text)]))) if sep == "," else 4
        cu, ci, cr, ct = 0, 1, 2, (3 if ncols >= 4 else None)
    table = _table(body, sep, ncols) if body.strip() else np.empty((0, max(ncols, 3)), dtype=str)
    ratings = table[:, cr].astype(np.float64)
    timestamps = table[:, ct].astype(np.float64) if ct is not None else None
    return Ratings(users=table[:, cu].copy(), items=table[:, ci].copy(), ratings=ratings, timestamps=timestamps,
                   order=np.arange(table.shape[0], dtype=np.int64), format=fmt, source=source)


def load_ratings(path: str | Path) -> Ratings:
    """Loads any supported ratings file (optionally gzip-compressed)."""
    path = Path(path)
    return parse_ratings(read_text(path), source=path.name)
