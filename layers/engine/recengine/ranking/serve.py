"""Ranking one request: the user's and session's history folded into the live (or a pinned) model,
then exclusions, rules, the frequency cap and cross-placement deduplication, a reason per item and,
with `debug`, each score's parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..attribution.store import ExposureStore
from ..catalogue.model import decision_document
from ..catalogue.store import ItemStore
from ..catalogue.view import CatalogueView
from ..engine.recommender import RecommenderModel
from ..events.store import InteractionStore
from ..models.errors import ModelNotFoundError, ModelUnavailableError
from ..models.serving import UNKNOWN_LIVE, ModelCache, PopularityCache
from .candidates import Reject, active_top, keep_active
from .query import Query, served_algorithm, warn
from .reads import Reads, load_history, read_all  # noqa: F401 - load_history re-exported
from .reasons import reasons
from .rules import first_failed
from .stored_lists import PrecomputedListStore


@dataclass
class Result:
    items: list[dict]
    warnings: list[dict] = field(default_factory=list)
    model_id: str | None = None
    source: str = "none"
    lists: list["ServedList"] = field(default_factory=list)


def resolve_model(models: ModelCache, tenant_id: str, model_id: str | None) -> tuple[RecommenderModel | None, list[dict]]:
    """The pinned version when `model_id` is given (ModelNotFoundError if the tenant has none such;
    the live model with a warning if it cannot be loaded), else the live model; while the live
    version cannot be loaded, the previous one (or none) with the warning `model_unavailable`."""
    warnings: list[dict] = []
    if model_id:
        try:
            return models.get_version(tenant_id, model_id), []
        except ModelUnavailableError:
            warnings.append(warn("pinned_model_unavailable", f"model {model_id} could not be loaded: "
                                 "the live model answered"))
    served = models.live(tenant_id)
    if served.unavailable is not None:
        which = "the live model (the registry could not be read)" if served.unavailable == UNKNOWN_LIVE \
            else f"model {served.unavailable}"
        warnings.append(warn("model_unavailable", f"{which} could not be loaded just now: "
                             + ("the previous version answered" if served.model is not None
                                else "no model answered")))
    return served.model, warnings


def no_model_warning(warnings: list[dict], detail: str = "") -> list[dict]:
    """`no_model` (never trained), unless the tenant has a model that could not be loaded (`model_unavailable`)."""
    if any(w["code"] == "model_unavailable" for w in warnings):
        return []
    return [warn("no_model", "no model has been trained for this tenant yet" + detail)]


@dataclass
class Deps:
    """What ranking reads: the model cache, history, the catalogue, popularity before any model,
    the exposure log (frequency caps) and the precomputed lists (`source: batch`)."""

    models: ModelCache
    interactions: InteractionStore
    items: ItemStore
    popularity: PopularityCache | None = None
    exposures: ExposureStore | None = None
    lists: PrecomputedListStore | None = None
    # (tenant id, user id) -> False for a user the portal marked inactive: served non-personalised
    # (recengine.portal.users.may_personalise, read beside the history in the same round trip).
    personalise: Callable[[str, str], bool] | None = None


@dataclass
class ServedList:
    placement: str | None
    items: list[dict]
    filtered: dict[str, str] = field(default_factory=dict)  # id -> why it was held back
    contributions: list[dict] | None = None
    source: str = "popular"  # how it was ranked: the algorithm, or popular/trending as a fallback
    decision: dict | None = None  # a decision flow's trace (ranking.policy.Chosen.trace)


def recommend(deps: Deps, tenant_id: str, *, user_id: str | None, session_id: str | None, limit: int,
              candidates: Sequence[str] | None = None, algorithm: str = "hybrid", model_id: str | None = None,
              source: str = "model") -> Result:
    """One plain list (batch generation and simple callers): `serve` without rules or placements."""
    query = Query(tenant_id, user_id, session_id, None, limit, candidates, served_algorithm(algorithm), model_id,
                  source=source)
    return serve(deps, query)


def serve(deps: Deps, q: Query, alongside: Callable[[], Any] | None = None,
          beside: Sequence[Callable[[], Any]] = ()) -> Result:
    """Ranks one list (or one per placement), applies exclusions, rules, the frequency cap and
    cross-placement deduplication, explains each item and, with `debug`, each score. Every read
    (and `alongside`, the meter) is issued together, once the model is resolved (from memory)."""
    try:
        model, pin_warnings = resolve_model(deps.models, q.tenant_id, q.model_id)
    except ModelNotFoundError:
        if q.source != "batch":
            raise
        model, pin_warnings, unknown_pin = None, [], True  # a precomputed list does not need the model
    else:
        unknown_pin = False
    reads = read_all(deps, q, model.model_id if model is not None else None, alongside, beside)
    q.check("reading the history")
    if reads.precomputed is not None:
        return from_batch(q, reads)
    if unknown_pin:
        raise ModelNotFoundError(f"model {q.model_id!r} not found or not servable")
    warnings: list[dict] = []
    if q.source == "batch":
        warnings.append(warn("no_batch", "no precomputed list for this user and algorithm: computed live"))
    history, weights, capped = reads.history, reads.weights, reads.capped
    warnings += reads.warnings + pin_warnings
    q.check("loading the model")
    if model is None and deps.popularity is None:
        return Result([], warnings + no_model_warning(warnings))
    if model is not None and q.candidates is not None:
        unknown = [c for c in dict.fromkeys(q.candidates) if c not in model.item_index]
        if unknown:
            warnings.append(warn("unknown_candidates", f"{len(unknown)} candidate item(s) are unknown to the model "
                                 "and were dropped"))
    if model is not None and q.context and not model.blend.w_context > 0:
        warnings.append(warn("context_not_learned", "the model has learned no context effect (too few interactions "
                             "carried context, or context did not predict them): context was not used in ranking"))
    excluded = _excluded(q, capped)
    slots = list(q.placements) if q.placements else [(None, q.limit)]
    lists: list[ServedList] = []
    for placement, limit in slots:
        served = _one_list(deps, reads, q, model, limit, excluded, placement)
        lists.append(served)
        if q.deduplicate:
            excluded.update({item["id"]: f"deduplicated: shown in placement {placement}" for item in served.items})
        q.check("ranking")
    source = lists[-1].source
    if model is None:
        warnings += no_model_warning(warnings, ": popular items returned" if any(s.items for s in lists) else "")
    elif source in ("popular", "trending") and q.algorithm not in ("popular", "trending") \
            and not any(w["code"] == "history_unavailable" for w in warnings):  # not missing: unread, said so
        if any(w["code"] == "user_inactive" for w in warnings):
            pass  # said so already: the user is inactive, not unknown
        elif not history:
            code = "unknown_user" if q.user_id else "new_session" if q.session_id else "anonymous_user_no_history"
            warnings.append(warn(code, "no history for this user or session yet: popular items returned"))
        else:
            warnings.append(warn("no_known_history", "history has no items known to the model: popular items returned"))
    warnings += _filter_warnings(q, lists, slots, capped)
    return Result(lists[0].items, warnings, model.model_id if model is not None else None, source, lists)


def _excluded(q: Query, capped: set[str]) -> dict[str, str]:
    excluded = {i: "excluded by the request" for i in q.exclude}
    excluded.update({i: "frequency cap" for i in capped if i not in excluded})
    return excluded


def _filter_warnings(q: Query, lists: list["ServedList"], slots: list[tuple[str | None, int]],
                     capped: set[str]) -> list[dict]:
    warnings = []
    if q.rules:
        short = [s.placement or "list" for s, (_, limit) in zip(lists, slots) if len(s.items) < limit]
        if short:
            warnings.append(warn("filters_exhausted", "fewer items than asked passed the filters "
                                 f"(in {', '.join(short)}); widen the rules to get more"))
    if capped:
        warnings.append(warn("frequency_capped", f"{len(capped)} item(s) reached the frequency cap on this surface "
                             "and were not shown again"))
    return warnings


def _rejecter(q: Query, placement: str | None = None, creatives: dict[str, dict] | None = None) -> Reject:
    """Why a candidate is passed over: inactive, failing a request rule (on its metadata and its
    offer fields), or an offer not eligible here (channel, placement, window, exclusions); the
    creative of each eligible offer goes into `creatives`."""
    def reject(item_id: str, row: dict | None) -> str | None:
        inactive = keep_active(item_id, row)
        if inactive:
            return inactive
        if q.rules:
            failed = first_failed(q.rules, decision_document(row or {}))
            if failed is not None:
                return f"rule: {failed.label}"
        if q.eligibility is not None:
            refused, creative = q.eligibility.check(item_id, row, placement)
            if refused is not None:
                return f"offer: {refused}"
            if creative is not None and creatives is not None:
                creatives[item_id] = creative
        return None

    return reject


def _top(catalogue: CatalogueView, q: Query, reads: Reads, limit: int, excluded: dict[str, str],
         rank: Callable[[int, set[str]], list[tuple[str, float]]], dropped: dict[str, str], placement: str | None,
         creatives: dict[str, dict]) -> tuple[list[tuple[str, float]], dict[str, dict | None], dict | None]:
    """The list's active, unfiltered, eligible best; under a decision flow, the flow's choice among a
    larger pool."""
    reject = _rejecter(q, placement, creatives)
    if q.policy is None:
        kept, rows = active_top(catalogue, q.tenant_id, limit, set(excluded), rank, reject, dropped)
        return kept, rows, None
    pool, rows = active_top(catalogue, q.tenant_id, q.policy.pool(limit), set(excluded), rank, reject, dropped)
    chosen = q.policy.choose(pool, rows, reads.exposures, reads.events, placement, limit)
    dropped.update(chosen.filtered)
    return chosen.items, rows, chosen.trace


def _one_list(deps: Deps, reads: Reads, q: Query, model: RecommenderModel | None, limit: int,
              excluded: dict[str, str], placement: str | None) -> ServedList:
    catalogue, history, weights = reads.catalogue, reads.history, reads.weights
    dropped: dict[str, str] = {}
    creatives: dict[str, dict] = {}
    ranking_context = dict(q.context)
    if placement is not None:
        ranking_context.setdefault("placement", placement)
    exclude_seen = q.policy is None or q.policy.exclude_seen
    if model is None:
        consumed = set(history) if exclude_seen else set()
        allowed = set(q.candidates) if q.candidates is not None else None
        ranked_all = [(i, s) for i, s in deps.popularity.top(q.tenant_id)
                      if i not in consumed and (allowed is None or i in allowed)]

        def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
            return [(i, s) for i, s in ranked_all if i not in exclude][:n]

        kept, rows, decision = _top(catalogue, q, reads, limit, excluded, rank, dropped, placement, creatives)
        out = []
        for item, score in kept:
            category = (rows.get(item) or {}).get("metadata", {}).get("category")
            out.append(_with_creative({"id": item, "score": round(score, 6),
                                       "reason": f"popular in {category}" if category else "popular right now"},
                                      creatives))
        contributions = ([{"id": i, "popularity": round(s, 6), "total": round(s, 6)} for i, s in kept]
                         if q.debug else None)
        return ServedList(placement, out, _debug_filtered(excluded, dropped) if q.debug else {}, contributions,
                          decision=decision)

    used: list[str] = []

    def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
        ranked = model.recommend(history, weights, n, exclude=exclude, candidates=q.candidates,
                                 algorithm=q.algorithm, context=ranking_context or None, exclude_seen=exclude_seen)
        used.append(ranked.source)
        return ranked.items

    kept, rows, decision = _top(catalogue, q, reads, limit, excluded, rank, dropped, placement, creatives)
    source = used[-1] if used else q.algorithm
    explained = reasons(model, catalogue, q.tenant_id, history, kept, rows, source)
    out = [_with_creative({"id": i, "score": round(s, 6), "reason": r}, creatives)
           for (i, s), r in zip(kept, explained)]
    contributions = None
    if q.debug:
        parts = model.contributions(history, weights, [i for i, _ in kept], q.algorithm, ranking_context or None)
        contributions = [{"id": i, **{k: round(v, 6) for k, v in (p or {}).items()}}
                         for (i, _), p in zip(kept, parts)]
    return ServedList(placement, out, _debug_filtered(excluded, dropped) if q.debug else {}, contributions, source,
                      decision)


def _with_creative(item: dict, creatives: dict[str, dict]) -> dict:
    creative = creatives.get(item["id"])
    if creative is not None:
        item["creative"] = creative
    return item


def _debug_filtered(excluded: dict[str, str], dropped: dict[str, str], cap: int = 100) -> dict[str, str]:
    """Why items were held back: request exclusions, caps and duplicates, then rules and inactivity."""
    out: dict[str, str] = {}
    for item, reason in [*dropped.items(), *excluded.items()]:
        if len(out) >= cap:
            break
        out.setdefault(item, reason)
    return out


def from_batch(q: Query, reads: Reads) -> Result:
    """A precomputed list (POST /v1/recommendations/generate) held to what a live list is: the
    request's candidates and exclusions, the frequency cap, the rules and items deactivated since,
    through the same filters (`active_top` with the live rejecter); its order and reasons are kept."""
    precomputed = reads.precomputed or {}
    warnings = [w for w in reads.warnings if w["code"] == "frequency_cap_unavailable"]
    capped = reads.capped
    excluded = _excluded(q, capped)
    allowed = set(q.candidates) if q.candidates is not None else None
    stored = {i["id"]: i for i in precomputed.get("items", []) if allowed is None or i["id"] in allowed}
    ranked = [(item_id, float(i.get("score") or 0.0)) for item_id, i in stored.items()]

    def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
        return [(i, s) for i, s in ranked if i not in exclude][:n]

    dropped: dict[str, str] = {}
    creatives: dict[str, dict] = {}
    kept, _ = active_top(reads.catalogue, q.tenant_id, q.limit, set(excluded), rank,
                         _rejecter(q, q.placement, creatives), dropped)
    items = [_with_creative(dict(stored[i]), creatives) for i, _ in kept]
    served = ServedList(None, items, _debug_filtered(excluded, dropped) if q.debug else {}, source="batch")
    warnings += _filter_warnings(q, [served], [(None, q.limit)], capped)
    return Result(items, warnings, precomputed.get("model_id"), "batch", [served])
