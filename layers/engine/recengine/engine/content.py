"""Content vectors from item metadata: categorical fields, tags and text, hashed into a fixed
number of dimensions with IDF weights, L2-normalised. Fixed hashing means an item added after
training gets a vector at request time from its metadata alone (cold start)."""

from __future__ import annotations

import re
import zlib
from typing import Any, Iterable, Mapping

import numpy as np

DIM = 256
CATEGORICAL = ("category", "categories", "genre", "genres", "brand", "author", "authors", "artist", "language",
               "language_code", "type", "department")
TEXT = ("title", "name", "description", "summary", "subtitle")
_WORD = re.compile(r"[a-z0-9]{3,}")
_STOP = frozenset("the and for with from that this you your are was were have has not but all any can our out "
                  "into over under more most new one two its".split())


def _values(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    return []


def tokens(metadata: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Weighted features: categorical values count more than tags, tags more than text words."""
    out: list[tuple[str, float]] = []
    for field in CATEGORICAL:
        out.extend((f"{field}:{v.lower()}", 2.0) for v in _values(metadata.get(field)))
    out.extend((f"tag:{t.lower()}", 1.5) for t in _values(metadata.get("tags")))
    for field in TEXT:
        text = metadata.get(field)
        if isinstance(text, str):
            out.extend((f"w:{w}", 1.0) for w in _WORD.findall(text.lower()) if w not in _STOP)
    return out


def _bucket(token: str) -> tuple[int, float]:
    h = zlib.crc32(token.encode())
    return h % DIM, 1.0 if (h >> 16) & 1 else -1.0


def raw_vector(metadata: Mapping[str, Any]) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for token, weight in tokens(metadata):
        i, sign = _bucket(token)
        v[i] += sign * weight
    return v


def fit_idf(raw: np.ndarray) -> np.ndarray:
    """Smoothed inverse document frequency per hashed dimension."""
    df = (raw != 0).sum(axis=0)
    return np.log((1.0 + raw.shape[0]) / (1.0 + df)).astype(np.float32) + 1.0


def embed(raw: np.ndarray, idf: np.ndarray) -> np.ndarray:
    v = raw * idf
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


def content_matrix(metadatas: list[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(unit content vectors, idf) for a list of item metadata dicts."""
    raw = np.stack([raw_vector(m) for m in metadatas]) if metadatas else np.zeros((0, DIM), np.float32)
    idf = fit_idf(raw) if len(metadatas) else np.ones(DIM, np.float32)
    return embed(raw, idf), idf


def content_to_factors(content: np.ndarray, factors: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Ridge map W (DIM x k) with content @ W ~ factors, so a cold item gets a collaborative vector."""
    a = content.T.astype(np.float64) @ content + l2 * np.eye(content.shape[1])
    return np.linalg.solve(a, content.T.astype(np.float64) @ factors).astype(np.float32)
