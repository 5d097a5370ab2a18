"""Request context in ranking: which items do better in which context, learned from the context
that interaction events carried (device_type, user_region, os_platform, referrer, custom keys).

A context is a set of "key=value" features. For a feature f of key k and an item i, c = the
number of (user, f, i) triples seen, and e = n_f * share of i among the events carrying key k
(what c would be if f made no difference). The lift of i in f is the posterior mean of c / e
under a Gamma(a, a) prior (mean 1): (c + a) / (e + a), an empirical-Bayes shrinkage whose
strength `a` is fitted per key to the over-dispersion of that key's pairs, so that a pair seen a
handful of times stays near lift 1, and a key that makes no difference (a referrer that is noise)
gets a prior so strong that its lifts vanish while another key's real effect is kept.

Scores are log-lifts summed over a request's known features (naive Bayes); each feature keeps its
top pairs by |log-lift|, in CSR-like arrays, so that serving is a lookup of a few short rows."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import ArtefactError
from .sparse import CSR

MAX_KEY_LEN = 40
MAX_VALUE_LEN = 64
MAX_FEATURES_PER_CONTEXT = 32  # the API accepts at most 32 keys
# Integers up to this size are categories (an hour, a version); larger ones (ids, timestamps) are
# bucketed like floats, so that they do not mint one feature per value.
MAX_CATEGORICAL_INT = 10_000
_CACHE_LIMIT = 200_000  # distinct keys and (key, value) pairs remembered while normalising events


@dataclass(frozen=True)
class ContextParams:
    """What to learn from event context, and how long training may spend choosing its weight."""

    min_support: int = 30  # distinct (user, item) events with a feature before the feature is learnt
    max_features: int = 5_000  # the best supported are kept
    top_k: int = 256  # lifts kept per feature (largest |log-lift|)
    min_abs_lift: float = 0.05  # |log-lift| below this is noise and is dropped
    prior: float | None = None  # Gamma prior strength in events; None: estimated per key from the data
    min_prior: float = 3.0  # bounds on the estimate: below ~3 a single event moves a lift by > 25%
    max_prior: float = 1_000.0
    eval_users: int = 1_000  # validation users for the weight choice
    min_eval_users: int = 50  # with fewer, no weight is chosen (context stays off)
    budget_s: float = 20.0  # time allowed for the weight choice

    def as_dict(self) -> dict:
        return asdict(self)


def _number(x: float) -> str | None:
    if not math.isfinite(x):
        return None
    if x.is_integer() and abs(x) <= MAX_CATEGORICAL_INT:
        return str(int(x))
    # A continuous value would give one feature per distinct value, none with support: a
    # power-of-two bucket of its magnitude keeps "small / large" without the noise.
    return f"{'-' if x < 0 else ''}2^{math.floor(math.log2(abs(x)))}"


def _value(value: Any) -> str | None:
    """A context value as a feature value; None for values that cannot be one."""
    kind = value.__class__  # exact types first: this runs for every training event
    if kind is str:
        return value.strip().lower()[:MAX_VALUE_LEN] or None
    if kind is float:
        return _number(value)
    if kind is bool or isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value)) if abs(int(value)) <= MAX_CATEGORICAL_INT else _number(float(value))
    if isinstance(value, (numbers.Real, Decimal)):  # numpy floats; DynamoDB numbers are Decimals
        return _number(float(value))
    if isinstance(value, str):
        return _value(str(value))
    return None


def _key(key: Any) -> str:
    return str(key).strip().lower().replace("=", "_")[:MAX_KEY_LEN]


def context_features(context: Mapping[str, Any] | None) -> list[str]:
    """The "key=value" features of a context: keys lower-cased, values as strings, None skipped."""
    if not context:
        return []
    out: dict[str, None] = {}
    for key, value in context.items():
        k, v = _key(key), _value(value)
        if k and v is not None:
            out[f"{k}={v}"] = None
            if len(out) >= MAX_FEATURES_PER_CONTEXT:
                break
    return list(out)


@dataclass(frozen=True)
class EventFeatures:
    """The features of every event as (event, feature) pairs: normalised once, fitted many times."""

    event: np.ndarray  # int64 event position per pair
    feature: np.ndarray  # int64 into `names` per pair
    names: list[str]


def event_features(contexts: Sequence[Mapping[str, Any] | None]) -> EventFeatures:
    """Normalises the contexts of all events, as `context_features` does one. Each distinct key,
    and each distinct non-float (key, value), is normalised once: whole contexts rarely repeat,
    their pairs do; floats (mostly distinct) are bucketed directly."""
    names: dict[str, int] = {}
    keys: dict[Any, str] = {}
    pairs: dict[tuple, int] = {}  # (key, type, value) -> feature id, -1 when it makes no feature
    events: list[int] = []
    feats: list[int] = []
    for pos, context in enumerate(contexts):
        if not context:
            continue
        ids: list[int] = []
        for key, value in context.items():
            k = keys.get(key)
            if k is None:
                k = _key(key)
                if len(keys) < _CACHE_LIMIT:
                    keys[key] = k
            if not k:
                continue
            if value.__class__ is float:
                v = _number(value)
                fid = -1 if v is None else names.setdefault(f"{k}={v}", len(names))
            else:
                try:
                    # The type keeps True apart from 1 (equal, and equally hashed, as dict keys).
                    pair: tuple = (k, value.__class__, value)
                    fid = pairs.get(pair)
                except TypeError:  # an unhashable value (a list) is never a feature
                    continue
                if fid is None:
                    v = _value(value)
                    fid = -1 if v is None else names.setdefault(f"{k}={v}", len(names))
                    if len(pairs) < _CACHE_LIMIT:
                        pairs[pair] = fid
            if fid >= 0 and fid not in ids:
                ids.append(fid)
                if len(ids) >= MAX_FEATURES_PER_CONTEXT:
                    break
        events.extend([pos] * len(ids))
        feats.extend(ids)
    return EventFeatures(np.asarray(events, dtype=np.int64), np.asarray(feats, dtype=np.int64), list(names))


def _top_abs(values: np.ndarray, k: int) -> np.ndarray:
    if values.size <= k:
        return np.arange(values.size)
    return np.argpartition(-np.abs(values), k - 1)[:k]


@dataclass
class ContextModel:
    """Sparse log-lifts: row r of (indptr, indices, data) holds feature r's items and log-lifts."""

    features: list[str]
    indptr: np.ndarray  # int64, len(features) + 1
    indices: np.ndarray  # int32 item positions, sorted within a row
    data: np.ndarray  # float32 log-lifts
    n_items: int
    info: dict = field(default_factory=dict)  # how it was fitted (for the model's meta)

    def __post_init__(self) -> None:
        self.feature_index = {f: r for r, f in enumerate(self.features)}

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, contexts: Sequence[Mapping[str, Any] | None], item_idx: np.ndarray, n_items: int,
            user_idx: np.ndarray | None = None, params: ContextParams = ContextParams()) -> "ContextModel":
        """Learns the lifts from events' contexts (aligned with `item_idx`, None for no context)."""
        return cls.fit_events(event_features(contexts), item_idx, n_items, user_idx, params)

    @classmethod
    def fit_events(cls, events: EventFeatures, item_idx: np.ndarray, n_items: int,
                   user_idx: np.ndarray | None = None, params: ContextParams = ContextParams(),
                   keep: np.ndarray | None = None) -> "ContextModel":
        """As `fit`, from normalised events; `keep` (a per-event mask) leaves events out."""
        ev, feat = events.event, events.feature
        if keep is not None:
            sel = keep[ev]
            ev, feat = ev[sel], feat[sel]
        n_names = len(events.names)
        items = np.asarray(item_idx, dtype=np.int64)[ev]
        pair = feat * n_items + items
        if user_idx is not None and pair.size:
            # A heavy user's repeats are not evidence about the context: (user, feature, item) once.
            users = np.asarray(user_idx, dtype=np.int64)[ev]
            order = np.lexsort((users, pair))
            pair, users = pair[order], users[order]
            first = np.ones(pair.size, dtype=bool)
            first[1:] = (pair[1:] != pair[:-1]) | (users[1:] != users[:-1])
            pair = pair[first]
        feat, items = pair // n_items, pair % n_items
        counts = CSR.from_coo(feat, items, np.ones(pair.size), (n_names, n_items))
        totals = np.bincount(feat, minlength=n_names).astype(np.float64)
        key_ids: dict[str, int] = {}
        key_of = np.array([key_ids.setdefault(name.split("=", 1)[0], len(key_ids)) for name in events.names],
                          dtype=np.int64)
        # Per key: each item's events among the events that carried the key (the no-effect baseline).
        by_key = CSR.from_coo(key_of[feat], items, np.ones(pair.size), (len(key_ids), n_items))
        key_totals = np.bincount(key_of[feat], minlength=len(key_ids)).astype(np.float64)

        kept = np.flatnonzero(totals >= params.min_support)
        if kept.size > params.max_features:
            kept = np.sort(kept[np.argsort(-totals[kept], kind="stable")[: params.max_features]])
        kept = kept[np.argsort([events.names[f] for f in kept], kind="stable")] if kept.size else kept
        info: dict[str, Any] = {"features_seen": n_names, "features": int(kept.size),
                                "events": int(pair.size)}
        if kept.size == 0:
            return cls.empty(n_items, info)

        def share(k: int) -> np.ndarray:
            cols, vals = by_key.row(int(k))
            p = np.zeros(n_items, dtype=np.float64)
            p[cols] = vals / max(key_totals[k], 1.0)
            return p

        priors = (np.full(len(key_ids), float(params.prior)) if params.prior is not None
                  else _fit_priors(counts, totals, key_of, kept, share, len(key_ids), params))
        names_of_keys = list(key_ids)
        info["priors"] = {names_of_keys[k]: round(float(priors[k]), 3) for k in np.unique(key_of[kept]).tolist()}
        rows_idx, rows_val, lengths = [], [], []
        shares: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for f in kept.tolist():
            k = int(key_of[f])
            if k not in shares:
                p = share(k)
                # Items frequent under the key but absent in a value are lifts too (negative ones).
                head = np.flatnonzero(p)
                head = head[np.argsort(-p[head], kind="stable")[: params.top_k]]
                shares = {k: (p, head)}  # features are grouped by key: one dense share at a time
            p, head = shares[k]
            cols, c = counts.row(f)
            cols = cols.astype(np.int64)
            absent = np.setdiff1d(head, cols, assume_unique=True)
            cand = np.concatenate((cols, absent))
            observed = np.concatenate((c.astype(np.float64), np.zeros(absent.size)))
            expected = totals[f] * p[cand]
            a = priors[k]
            lift = np.log((observed + a) / (expected + a))
            ok = np.abs(lift) >= params.min_abs_lift
            cand, lift = cand[ok], lift[ok]
            top = _top_abs(lift, params.top_k)
            order = np.argsort(cand[top], kind="stable")
            rows_idx.append(cand[top][order])
            rows_val.append(lift[top][order])
            lengths.append(top.size)
        indptr = np.zeros(kept.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        info["nnz"] = int(indptr[-1])
        return cls([events.names[f] for f in kept.tolist()], indptr,
                   np.concatenate(rows_idx).astype(np.int32), np.concatenate(rows_val).astype(np.float32),
                   n_items, info)

    @classmethod
    def empty(cls, n_items: int, info: dict | None = None) -> "ContextModel":
        return cls([], np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32),
                   n_items, dict(info or {}))

    # ------------------------------------------------------------------ serving
    def sparse(self, context: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
        """(items, summed log-lift) of a context's known features; items sorted, unique."""
        rows = [r for r in (self.feature_index.get(f) for f in context_features(context)) if r is not None]
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        parts = [(self.indptr[r], self.indptr[r + 1]) for r in rows]
        if len(parts) == 1:
            lo, hi = parts[0]
            return np.asarray(self.indices[lo:hi], dtype=np.int64), np.asarray(self.data[lo:hi], dtype=np.float64)
        idx = np.concatenate([self.indices[lo:hi] for lo, hi in parts]).astype(np.int64)
        vals = np.concatenate([self.data[lo:hi] for lo, hi in parts]).astype(np.float64)
        order = np.argsort(idx, kind="stable")
        idx = idx[order]
        first = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        return idx[first], np.add.reduceat(vals[order], first)

    def score(self, context: Mapping[str, Any] | None, items: np.ndarray | Sequence[int] | None = None
              ) -> np.ndarray:
        """Summed log-lifts of `items` (all items when None); zeros for unknown or no context."""
        idx, vals = self.sparse(context)
        return gather(idx, vals, items, self.n_items)

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> dict[str, Any]:
        return {"features": list(self.features), "indptr": np.asarray(self.indptr, dtype=np.int64),
                "indices": np.asarray(self.indices, dtype=np.int32), "data": np.asarray(self.data, dtype=np.float32)}

    @classmethod
    def from_arrays(cls, features: Sequence[str], indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                    n_items: int) -> "ContextModel":
        """Rebuilds a saved model; ArtefactError if the arrays disagree with each other or n_items."""
        features = list(features)
        if not all(isinstance(f, str) for f in features) or len(set(features)) != len(features):
            raise ArtefactError("context features must be unique strings")
        if indptr.ndim != 1 or indptr.shape != (len(features) + 1,) or indices.ndim != 1 \
                or indices.shape != data.shape or int(indptr[0]) != 0 or int(indptr[-1]) != indices.size \
                or np.any(np.diff(indptr) < 0):
            raise ArtefactError("context arrays disagree with each other")
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n_items):
            raise ArtefactError("context arrays refer to items outside the model")
        return cls(features, indptr, indices, data, n_items)


def gather(idx: np.ndarray, vals: np.ndarray, items: np.ndarray | Sequence[int] | None, n_items: int,
           fill: float = 0.0) -> np.ndarray:
    """The values of sparse (idx sorted, vals) at `items` (every item when None), `fill` elsewhere."""
    if items is None:
        out = np.full(n_items, fill, dtype=np.float64)
        out[idx] = vals
        return out
    items = np.asarray(items, dtype=np.int64)
    out = np.full(items.size, fill, dtype=np.float64)
    if idx.size and items.size:
        pos = np.minimum(np.searchsorted(idx, items), idx.size - 1)
        hit = idx[pos] == items
        out[hit] = vals[pos[hit]]
    return out


def _fit_priors(counts: CSR, totals: np.ndarray, key_of: np.ndarray, kept: np.ndarray, share, n_keys: int,
                params: ContextParams) -> np.ndarray:
    """The prior strength of each key, by the method of moments for c ~ Poisson(e * lambda),
    lambda ~ Gamma(a, a): Var c = e + e^2 / a, so 1/a = sum((c - e)^2 - c) / sum(e^2) over every
    (feature, item) pair of the key, zeros included. No over-dispersion: the strongest prior."""
    num, den = np.zeros(n_keys), np.zeros(n_keys)
    current, p, q = -1, np.zeros(0), 0.0
    for f in kept.tolist():
        k = int(key_of[f])
        if k != current:
            current, p = k, share(k)
            q = float(p @ p)
        cols, c = counts.row(f)
        e = totals[f] * p[cols]
        c = c.astype(np.float64)
        # Zero pairs contribute e^2 each: the sum over all items, minus the observed ones.
        num[k] += float(((c - e) ** 2 - e * e - c).sum()) + totals[f] ** 2 * q
        den[k] += totals[f] ** 2 * q
    priors = np.full(n_keys, params.max_prior)
    ok = (num > 0) & (den > 0)
    priors[ok] = np.clip(den[ok] / num[ok], params.min_prior, params.max_prior)
    return priors


def context_scale(model: ContextModel, contexts: Iterable[Mapping[str, Any] | None]) -> float:
    """The typical spread (std over all items) of a context's score: what one unit of the blend's
    context weight means, measured like the collaborative scales."""
    spreads = []
    n = max(model.n_items, 1)
    for context in contexts:
        _, vals = model.sparse(context)
        if vals.size:
            mean = vals.sum() / n
            spreads.append(float(np.sqrt(max((vals @ vals) / n - mean * mean, 0.0))))
    positive = [s for s in spreads if s > 0]
    return float(np.median(positive)) if positive else 1.0
