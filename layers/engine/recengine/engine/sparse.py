"""A minimal CSR matrix in numpy, enough for implicit-feedback training without scipy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CSR:
    indptr: np.ndarray  # int64, len rows + 1
    indices: np.ndarray  # int32 column ids, sorted within a row
    data: np.ndarray  # float32 values
    shape: tuple[int, int]

    @classmethod
    def from_coo(cls, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> "CSR":
        """Builds a CSR matrix, summing duplicate (row, col) entries."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        vals = np.asarray(vals, dtype=np.float64)
        n_rows, n_cols = shape
        if rows.size:
            keys = rows * n_cols + cols
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            uniq, start = np.unique(keys, return_index=True)
            summed = np.add.reduceat(vals[order], start) if start.size else vals[:0]
            rows, cols, vals = uniq // n_cols, uniq % n_cols, summed
        counts = np.bincount(rows, minlength=n_rows)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr, cols.astype(np.int32), vals.astype(np.float32), (n_rows, n_cols))

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def row_ids(self) -> np.ndarray:
        """The row index of every stored value (COO rows)."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def transpose(self) -> "CSR":
        return CSR.from_coo(self.indices, self.row_ids(), self.data, (self.shape[1], self.shape[0]))

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[r], self.indptr[r + 1]
        return self.indices[lo:hi], self.data[lo:hi]


def segment_sum(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Sums consecutive row segments of `values` (CSR order); empty segments give zeros."""
    n = indptr.size - 1
    out = np.zeros((n,) + values.shape[1:], dtype=values.dtype)
    starts = indptr[:-1]
    nonempty = np.flatnonzero(np.diff(indptr) > 0)
    if nonempty.size:
        out[nonempty] = np.add.reduceat(values, starts[nonempty], axis=0)
    return out


class SparseRows:
    """Rows of a mostly-zero matrix (hashed content vectors: a few dozen of 256 dimensions set),
    stored as CSR and read like the dense matrix they replace: `rows[idx]` gives dense float32
    rows, `dot(vector, rows)` the product without ever densifying the whole matrix. A tenth of
    the bytes of the dense matrix on disk and in memory, and a cheaper product."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, dim: int):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.shape = (int(indptr.size) - 1, int(dim))
        self.dtype = np.dtype(np.float32)
        self._row_ids: np.ndarray | None = None

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> "SparseRows":
        dense = np.asarray(dense, dtype=np.float32)
        rows, cols = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        index_dtype = np.uint8 if dense.shape[1] <= 256 else np.int32
        return cls(indptr, cols.astype(index_dtype), dense[rows, cols], dense.shape[1])

    @classmethod
    def empty(cls, n: int, dim: int) -> "SparseRows":
        return cls(np.zeros(n + 1, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.float32), dim)

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def _positions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position of every stored value of `rows`, which of `rows` it belongs to)."""
        starts = self.indptr[rows]
        counts = self.indptr[rows + 1] - starts
        owner = np.repeat(np.arange(rows.size), counts)
        offsets = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + offsets, owner

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            out = np.zeros(self.shape[1], np.float32)
            lo, hi = int(self.indptr[key]), int(self.indptr[key + 1])
            out[self.indices[lo:hi]] = self.data[lo:hi]
            return out
        rows = np.arange(self.shape[0])[key] if isinstance(key, slice) else np.asarray(key, dtype=np.int64)
        pos, owner = self._positions(rows)
        out = np.zeros((rows.size, self.shape[1]), np.float32)
        out[owner, self.indices[pos]] = self.data[pos]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dense = self[slice(None)]
        return dense if dtype is None else dense.astype(dtype)

    def dot(self, vector: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(rows of the matrix) @ vector as float32; all rows when `rows` is None."""
        vector = np.asarray(vector, dtype=np.float32)
        if rows is None:
            if self._row_ids is None:  # built once: the full product is the common case
                self._row_ids = np.repeat(np.arange(self.shape[0], dtype=np.int32), np.diff(self.indptr))
            products = self.data * vector[self.indices]
            return np.bincount(self._row_ids, weights=products, minlength=self.shape[0]).astype(np.float32)
        rows = np.asarray(rows, dtype=np.int64)
        pos, owner = self._positions(rows)
        products = self.data[pos] * vector[self.indices[pos]]
        return np.bincount(owner, weights=products, minlength=rows.size).astype(np.float32)
