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
