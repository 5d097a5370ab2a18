"""Personalised recommendations and similar items over the tenant's live (or a pinned) model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..engine.errors import ArtefactError
from ..engine.model import RecommenderModel
from ..errors import DeadlineExceededError, NotFoundError
from ..stores.dynamo import ExposureStore, InteractionStore, ItemStore
from .registry import ModelNotFoundError
from .rules import CompiledRule, first_failed
from .serving import ModelCache, PopularityCache

HISTORY_LIMIT = 200  # latest user events folded in per request
SESSION_LIMIT = 50


@dataclass
class Result:
    items: list[dict]
    warnings: list[dict] = field(default_factory=list)
    model_id: str | None = None
    source: str = "none"
    lists: list["ServedList"] = field(default_factory=list)


def _warn(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def load_history(store: InteractionStore, tenant_id: str, user_id: str | None, session_id: str | None
                 ) -> tuple[list[str], list[float]]:
    """Items and weights from the user's recent history plus the session, each event once."""
    rows: dict[str, dict] = {}
    user_rows = store.recent_for_user(tenant_id, user_id, HISTORY_LIMIT) if user_id else []
    session_rows = store.recent_for_session(tenant_id, session_id, SESSION_LIMIT) if session_id else []
    for row in [*user_rows, *session_rows]:
        rows.setdefault(row["event_id"], row)
    ordered = sorted(rows.values(), key=lambda r: r["sk"])
    return [r["item_id"] for r in ordered], [float(r["weight"]) for r in ordered]


MAX_SCAN = 2000  # ranked items examined per list before filters are declared too narrow
Reject = Callable[[str, "dict | None"], "str | None"]


def _keep_active(item_id: str, row: dict | None) -> str | None:
    return "inactive" if row is not None and not row.get("active", True) else None


def _active_top(items: ItemStore, tenant_id: str, limit: int, exclude: set[str],
                rank: Callable[[int, set[str]], list[tuple[str, float]]], reject: Reject = _keep_active,
                dropped: dict[str, str] | None = None) -> tuple[list[tuple[str, float]], dict]:
    """The best `limit` items from `rank(n, exclude)` that `reject` lets through (by default: not
    deactivated; items never sent to the catalogue count as active), over-fetching past rejected
    ones up to MAX_SCAN; also their catalogue rows. Rejections land in `dropped` (id -> reason)."""
    dropped = {} if dropped is None else dropped
    rows: dict[str, dict] = {}
    want = limit * 2 + 10
    while True:
        ranked = rank(want, exclude)
        missing = [i for i, _ in ranked if i not in rows]
        if missing:
            rows.update(items.get_many(tenant_id, missing))
        kept = []
        for i, s in ranked:
            reason = reject(i, rows.get(i))
            if reason:
                dropped.setdefault(i, reason)
            else:
                kept.append((i, s))
        if len(kept) >= limit or len(ranked) < want or want >= MAX_SCAN:
            return kept[:limit], rows
        exclude = exclude | set(dropped)
        want = min(want * 2, MAX_SCAN)


def _title(row: dict | None, item_id: str) -> str:
    meta = (row or {}).get("metadata", {})
    title = meta.get("title") or meta.get("name")
    return str(title) if title else item_id


def reasons(model: RecommenderModel, items: ItemStore, tenant_id: str, history: Sequence[str],
            kept: list[tuple[str, float]], rows: dict, source: str) -> list[str]:
    """One short, human-readable reason per item (titles and categories from the catalogue)."""
    anchors = model.explain(history, [i for i, _ in kept], source)
    missing = [a for a in anchors if a and a not in rows]
    if missing:
        rows = {**rows, **items.get_many(tenant_id, missing)}
    out = []
    for (item, _), anchor in zip(kept, anchors):
        category = (rows.get(item) or {}).get("metadata", {}).get("category")
        if source in ("popular", "trending"):
            word = "popular" if source == "popular" else "trending"
            out.append(f"{word} in {category}" if category else f"{word} right now")
        elif anchor:
            verb = "similar to" if source == "content-based" else "because you liked"
            out.append(f"{verb} {_title(rows.get(anchor), anchor)}")
        else:
            out.append("recommended for you")
    return out


def resolve_model(models: ModelCache, tenant_id: str, model_id: str | None) -> tuple[RecommenderModel | None, list[dict]]:
    """The pinned version when `model_id` is given (ModelNotFoundError if the tenant has none such;
    the live model with a warning if it cannot be loaded), else the live model."""
    if not model_id:
        return models.get(tenant_id), []
    try:
        return models.get_version(tenant_id, model_id), []
    except (ArtefactError, NotFoundError) as exc:
        if isinstance(exc, ModelNotFoundError):
            raise
        return models.get(tenant_id), [_warn("pinned_model_unavailable", f"model {model_id} could not be loaded: "
                                              "the live model answered")]


# ---------------------------------------------------------------------------- the request
def _monotonic() -> float:
    return time.monotonic()


@dataclass
class Deadline:
    """The request's time budget: checked between stages, so a slow dependency turns into a 408
    (nothing served, nothing billed) instead of an answer the caller has already given up on."""

    budget_ms: int
    clock: Callable[[], float] | None = None  # default: the module's monotonic clock (tests move it)
    started: float | None = None

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.now()

    def now(self) -> float:
        return (self.clock or _monotonic)()

    def check(self, stage: str) -> None:
        elapsed_ms = (self.now() - self.started) * 1000
        if elapsed_ms > self.budget_ms:
            raise DeadlineExceededError(f"the request exceeded its {self.budget_ms} ms budget ({stage})")


@dataclass
class Query:
    """One recommend request in canonical form (api.schemas.RecommendRequest after aliases)."""

    tenant_id: str
    user_id: str | None = None
    session_id: str | None = None
    user_key: str | None = None  # pseudonymous; what logs and exposure rows carry
    limit: int = 10
    candidates: Sequence[str] | None = None
    algorithm: str = "hybrid"
    model_id: str | None = None
    surface: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    rules: Sequence[CompiledRule] = ()
    exclude: Sequence[str] = ()
    placements: Sequence[tuple[str, int]] | None = None
    deduplicate: bool = False
    debug: bool = False
    frequency_cap: tuple[int, float] | None = None  # (max impressions, window in seconds)
    source: str = "model"
    deadline: Deadline | None = None

    def check(self, stage: str) -> None:
        if self.deadline is not None:
            self.deadline.check(stage)


@dataclass
class Deps:
    models: ModelCache
    interactions: InteractionStore
    items: ItemStore
    popularity: PopularityCache | None = None
    exposures: ExposureStore | None = None


@dataclass
class ServedList:
    placement: str | None
    items: list[dict]
    filtered: dict[str, str] = field(default_factory=dict)  # id -> why it was held back
    contributions: list[dict] | None = None
    source: str = "popular"  # how it was ranked: the algorithm, or popular/trending as a fallback


def recommend(models: ModelCache, interactions: InteractionStore, items: ItemStore, tenant_id: str, *,
              user_id: str | None, session_id: str | None, limit: int,
              candidates: Sequence[str] | None = None, algorithm: str = "hybrid", model_id: str | None = None,
              popularity: PopularityCache | None = None, source: str = "model") -> Result:
    """One plain list (batch generation and simple callers): `serve` without rules or placements."""
    query = Query(tenant_id, user_id, session_id, None, limit, candidates, algorithm, model_id, source=source)
    return serve(Deps(models, interactions, items, popularity), query)


def serve(deps: Deps, q: Query) -> Result:
    """Ranks one list (or one per placement), applies exclusions, rules, the frequency cap and
    cross-placement deduplication, explains each item and, with `debug`, each score."""
    if q.source == "batch" and q.user_id and not q.placements:
        precomputed = deps.interactions.batch_list(q.tenant_id, q.user_id, q.algorithm)
        if precomputed is not None:
            result = from_batch(deps.items, q.tenant_id, precomputed, q.limit, q.candidates)
            result.lists = [ServedList(None, result.items, source="batch")]
            return result
    warnings: list[dict] = []
    if q.source == "batch":
        warnings.append(_warn("no_batch", "no precomputed list for this user and algorithm: computed live"))
    history, weights = load_history(deps.interactions, q.tenant_id, q.user_id, q.session_id)
    q.check("reading the history")
    capped = _frequency_capped(deps, q, warnings)
    model, pin_warnings = resolve_model(deps.models, q.tenant_id, q.model_id)
    warnings += pin_warnings
    q.check("loading the model")
    if model is None and deps.popularity is None:
        return Result([], warnings + [_warn("no_model", "no model has been trained for this tenant yet")])
    if model is not None and q.candidates is not None:
        unknown = [c for c in dict.fromkeys(q.candidates) if c not in model.item_index]
        if unknown:
            warnings.append(_warn("unknown_candidates", f"{len(unknown)} candidate item(s) are unknown to the model "
                                  "and were dropped"))
    if model is not None and q.context and not model.blend.w_context > 0:
        warnings.append(_warn("context_not_learned", "the model has learned no context effect (too few interactions "
                              "carried context, or context did not predict them): context was not used in ranking"))
    excluded = {i: "excluded by the request" for i in q.exclude}
    excluded.update({i: "frequency cap" for i in capped if i not in excluded})
    slots = list(q.placements) if q.placements else [(None, q.limit)]
    lists: list[ServedList] = []
    for placement, limit in slots:
        served = _one_list(deps, q, model, history, weights, limit, excluded, placement)
        lists.append(served)
        if q.deduplicate:
            excluded.update({item["id"]: f"deduplicated: shown in placement {placement}" for item in served.items})
        q.check("ranking")
    source = lists[-1].source
    if model is None:
        warnings.append(_warn("no_model", "no model has been trained for this tenant yet"
                              + (": popular items returned" if any(s.items for s in lists) else "")))
    elif source in ("popular", "trending") and q.algorithm not in ("popular", "trending"):
        if not history:
            code = "unknown_user" if q.user_id else "new_session" if q.session_id else "anonymous_user_no_history"
            warnings.append(_warn(code, "no history for this user or session yet: popular items returned"))
        else:
            warnings.append(_warn("no_known_history", "history has no items known to the model: popular items returned"))
    if q.rules:
        short = [s.placement or "list" for s, (_, limit) in zip(lists, slots) if len(s.items) < limit]
        if short:
            warnings.append(_warn("filters_exhausted", "fewer items than asked passed the filters "
                                  f"(in {', '.join(short)}); widen the rules to get more"))
    if capped:
        warnings.append(_warn("frequency_capped", f"{len(capped)} item(s) reached the frequency cap on this surface "
                              "and were not shown again"))
    return Result(lists[0].items, warnings, model.model_id if model is not None else None, source, lists)


def _frequency_capped(deps: Deps, q: Query, warnings: list[dict]) -> set[str]:
    """Items shown to this user on this surface `max` times within the window (exposure log)."""
    if q.frequency_cap is None:
        return set()
    if deps.exposures is None or not q.user_key:
        warnings.append(_warn("frequency_cap_unavailable", "no exposure log to apply the frequency cap to"))
        return set()
    limit, window_s = q.frequency_cap
    counts: dict[str, int] = {}
    for row in deps.exposures.recent(q.tenant_id, q.user_key, time.time() - window_s):
        if (row.get("surface") or None) != q.surface:
            continue
        for item in row.get("items") or ():
            counts[item["id"]] = counts.get(item["id"], 0) + 1
    return {i for i, n in counts.items() if n >= limit}


def _rejecter(q: Query) -> Reject:
    def reject(item_id: str, row: dict | None) -> str | None:
        inactive = _keep_active(item_id, row)
        if inactive:
            return inactive
        if q.rules:
            failed = first_failed(q.rules, (row or {}).get("metadata") or {})
            if failed is not None:
                return f"rule: {failed.label}"
        return None

    return reject


def _one_list(deps: Deps, q: Query, model: RecommenderModel | None, history: list[str], weights: list[float],
              limit: int, excluded: dict[str, str], placement: str | None) -> ServedList:
    dropped: dict[str, str] = {}
    ranking_context = dict(q.context)
    if placement is not None:
        ranking_context.setdefault("placement", placement)
    if model is None:
        consumed = set(history)
        allowed = set(q.candidates) if q.candidates is not None else None
        ranked_all = [(i, s) for i, s in deps.popularity.top(q.tenant_id)
                      if i not in consumed and (allowed is None or i in allowed)]

        def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
            return [(i, s) for i, s in ranked_all if i not in exclude][:n]

        kept, rows = _active_top(deps.items, q.tenant_id, limit, set(excluded), rank, _rejecter(q), dropped)
        out = []
        for item, score in kept:
            category = (rows.get(item) or {}).get("metadata", {}).get("category")
            out.append({"id": item, "score": round(score, 6),
                        "reason": f"popular in {category}" if category else "popular right now"})
        contributions = ([{"id": i, "popularity": round(s, 6), "total": round(s, 6)} for i, s in kept]
                         if q.debug else None)
        return ServedList(placement, out, _debug_filtered(excluded, dropped) if q.debug else {}, contributions)

    used: list[str] = []

    def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
        ranked = model.recommend(history, weights, n, exclude=exclude, candidates=q.candidates,
                                 algorithm=q.algorithm, context=ranking_context or None)
        used.append(ranked.source)
        return ranked.items

    kept, rows = _active_top(deps.items, q.tenant_id, limit, set(excluded), rank, _rejecter(q), dropped)
    source = used[-1] if used else q.algorithm
    explained = reasons(model, deps.items, q.tenant_id, history, kept, rows, source)
    out = [{"id": i, "score": round(s, 6), "reason": r} for (i, s), r in zip(kept, explained)]
    contributions = None
    if q.debug:
        parts = model.contributions(history, weights, [i for i, _ in kept], q.algorithm, ranking_context or None)
        contributions = [{"id": i, **{k: round(v, 6) for k, v in (p or {}).items()}}
                         for (i, _), p in zip(kept, parts)]
    return ServedList(placement, out, _debug_filtered(excluded, dropped) if q.debug else {}, contributions, source)


def _debug_filtered(excluded: dict[str, str], dropped: dict[str, str], cap: int = 100) -> dict[str, str]:
    """Why items were held back: request exclusions, caps and duplicates, then rules and inactivity."""
    out: dict[str, str] = {}
    for item, reason in [*dropped.items(), *excluded.items()]:
        if len(out) >= cap:
            break
        out.setdefault(item, reason)
    return out


def from_batch(items: ItemStore, tenant_id: str, precomputed: dict, limit: int,
               candidates: Sequence[str] | None) -> Result:
    """A precomputed list (POST /v1/recommendations/generate), minus items deactivated since."""
    listed = [i for i in precomputed.get("items", []) if candidates is None or i["id"] in set(candidates)]
    rows = items.get_many(tenant_id, [i["id"] for i in listed])
    kept = [i for i in listed if (rows.get(i["id"]) or {}).get("active", True)][:limit]
    return Result(kept, [], precomputed.get("model_id"), "batch")


def similar(models: ModelCache, items: ItemStore, tenant_id: str, item_id: str, limit: int,
            model_id: str | None = None) -> Result:
    model, pin_warnings = resolve_model(models, tenant_id, model_id)
    in_model = model is not None and item_id in model.item_index
    if not in_model and items.get(tenant_id, item_id) is None:
        raise NotFoundError(f"item {item_id!r} not found")
    if model is None:
        return Result([], [_warn("no_model", "no model has been trained for this tenant yet")])
    warnings: list[dict] = list(pin_warnings)
    rank = (lambda n, ex: model.similar(item_id, n, exclude=ex)) if in_model else \
        (lambda n, ex: model.popular(n, exclude=ex))
    kept, _ = _active_top(items, tenant_id, limit, {item_id}, rank)
    if not in_model:
        warnings.append(_warn("item_not_in_model", "the item has no interactions in the current model: "
                              "popular items returned"))
    return Result([{"id": i, "score": round(s, 6)} for i, s in kept], warnings, model.model_id,
                  "similar" if in_model else "popular")
