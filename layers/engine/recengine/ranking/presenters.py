"""The wire formats of recommend and similar answers: canonical /v1 (ranking.responses documents it),
the RecommendAI dialect of /api/v1 (bare arrays), and the offer-decisioning dialect of
/api/v1/recommend: its own defaults and checks on the way in, and `decisions` (V1, flat) or
placements of decisions (V2, grouped) on the way out, each answer with the `interactionId` that
outcomes quote. The ranking is the same service call."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from ..errors import UnauthorizedError
from ..http.problems import BadRequest
from .query import Query, RecommendCall, warn
from .serve import Result, ServedList
from .service import Recommendation, Resolved


def recommend_body(rec: Recommendation) -> dict:
    """`{rec_id, items | placements, meta, warnings[, debug]}`."""
    result, query = rec.result, rec.query
    batch = result.source == "batch"
    meta = {"request_id": rec.request_id, "model_id": result.model_id,
            "algorithm": rec.requested_algorithm if batch else result.source, "surface": query.surface,
            "source": "batch" if batch else "model"}
    if rec.anonymous_id:
        meta["anonymous_id"] = rec.anonymous_id
    meta.update(_decided(rec))
    body: dict = {"rec_id": rec.request_id}
    if query.placements or rec.grouped:
        body["placements"] = [{"placement_id": _slot(rec, s), "items": s.items} for s in result.lists]
    else:
        body["items"] = result.items
    body.update({"meta": meta, "warnings": rec.warnings})
    if query.debug:
        body["debug"] = debug_trace(query, result)
    return body


def _decided(rec: Recommendation) -> dict:
    """The decision flow and the experiment variant that served the request, when there were any."""
    out: dict = {}
    if rec.flow_key:
        out["decision_flow"] = rec.flow_key
    if rec.experiment:
        out["experiment"] = dict(rec.experiment)
    return out


def _slot(rec: Recommendation, served: ServedList) -> str:
    """A list's placement id; a grouped flow's single list is named by the request's slot."""
    return served.placement or rec.query.placement or rec.query.surface or "default"


def debug_trace(query: Query, result: Result) -> dict:
    """Rules applied, the context, the frequency cap, and per list each item's score parts and why
    items were held back."""

    def one(served: ServedList) -> dict:
        out = {"contributions": served.contributions or [],
               "filtered": [{"id": i, "reason": r} for i, r in served.filtered.items()]}
        if served.decision is not None:
            out["decision"] = served.decision
        return out

    trace = {"rules": [r.label for r in query.rules], "context": dict(query.context),
             "frequency_cap": list(query.frequency_cap) if query.frequency_cap else None}
    if query.placements:
        trace["placements"] = {s.placement: one(s) for s in result.lists}
    elif result.lists:
        trace.update(one(result.lists[0]))
    return trace


def validate_body(canonical_request: dict, resolved: Resolved, request_id: str) -> dict:
    """`canonical_request` is the request in canonical field names (the edge's model dump)."""
    request = {**canonical_request, "limit": resolved.query.limit}
    return {"valid": True, "request": request, "warnings": resolved.warnings,
            "meta": {"request_id": request_id, "anonymous_id": resolved.anonymous_id}}


def similar_body(request_id: str, item_id: str, result: Result) -> dict:
    return {"rec_id": request_id, "item_id": item_id, "items": result.items, "warnings": result.warnings,
            "model_id": result.model_id}



def recommendai_items(rec: Recommendation) -> tuple[list[dict], dict[str, str]]:
    """The RecommendAI dialect: a bare array of `{itemId, score, algorithm, explanation}` (every
    placement's items in order), and the warnings' codes as a header, the array having no room."""
    asked_neural = rec.requested_algorithm == "deep-learning"
    out = []
    for served in rec.result.lists:
        algorithm = rec.requested_algorithm if served.source == "batch" and not asked_neural else served.source
        for item in served.items:
            explanation = item.get("reason") or ""
            if asked_neural:
                explanation = f"{explanation} (deep-learning requested: served by the {algorithm} model, " \
                              "the strongest available)".strip()
            out.append({"itemId": item["id"], "score": item.get("score"), "algorithm": algorithm,
                        "explanation": explanation})
    codes = ",".join(dict.fromkeys(w["code"] for w in rec.warnings))
    return out, ({"X-Recommendation-Warnings": codes} if codes else {})


def recommendai_similar(result: Result) -> tuple[list[dict], dict[str, str]]:
    """The RecommendAI dialect of similar items: a bare array of `{itemId, score}`."""
    codes = ",".join(dict.fromkeys(w["code"] for w in result.warnings))
    return ([{"itemId": i["id"], "score": i.get("score")} for i in result.items],
            {"X-Recommendation-Warnings": codes} if codes else {})


DEFAULT_LIMIT, MAX_LIMIT = 5, 50  # the dialect's own: 5 offers unless asked, at most 50
SESSION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # alphanumeric, UUID dashes allowed


def decisioning_call(call: RecommendCall, sent: Mapping[str, Any], tenant_header: str | None = None
                     ) -> tuple[RecommendCall, list[dict]]:
    """The canonical call with the dialect's limits; as the seed says, a request without the
    `X-Tenant-Id` header is a 401 (one naming another tenant was refused before) and a malformed
    `sessionId` a 400. `sent`: the request's fields as sent (body or query string), to tell a
    default from a choice."""
    if tenant_header is None or not tenant_header.strip():
        raise UnauthorizedError("the decisioning dialect needs an X-Tenant-Id header naming the API key's tenant")
    session = sent.get("sessionId", sent.get("session_id"))
    if session is not None and not (isinstance(session, str) and SESSION_ID.fullmatch(session)):
        raise BadRequest("sessionId must be alphanumeric (dashes allowed, as in a UUID) and at most 64 characters")
    named = any(k in sent for k in ("limit", "count", "k"))
    limit, notes = call.limit if named else DEFAULT_LIMIT, []
    if limit > MAX_LIMIT:
        notes.append(warn("limit_clipped", f"limit {limit} clipped to {MAX_LIMIT}"))
        limit = MAX_LIMIT
    placements = [(p, min(n, MAX_LIMIT) if n is not None else None) for p, n in call.placements] \
        if call.placements else call.placements
    return dataclasses.replace(call, limit=limit, placements=placements), notes


def _decisions(items: list[dict]) -> list[dict]:
    out = []
    for n, item in enumerate(items, start=1):
        decision = {"offerId": item["id"], "rank": n, "score": item.get("score"), "reason": item.get("reason")}
        if item.get("creative") is not None:
            decision.update(creativeId=item["creative"].get("id"), creative=item["creative"])
        out.append(decision)
    return out


def decisioning_body(rec: Recommendation, notes: list[dict] = ()) -> dict:
    """V1 `{interactionId, decisions[...]}`, or V2 `{interactionId, placements[{placementId, decisions}]}`
    for a multi-placement request; `warnings` and, with `debug`, `debugTrace` beside them."""
    result, query = rec.result, rec.query
    body: dict = {"interactionId": rec.request_id}
    if query.placements or rec.grouped:
        body["placements"] = [{"placementId": _slot(rec, s), "decisions": _decisions(s.items)} for s in result.lists]
    else:
        body["decisions"] = _decisions(result.items)
    body["modelId"] = result.model_id
    decided = _decided(rec)
    if decided.get("decision_flow"):
        body["decisionFlowKey"] = decided["decision_flow"]
    if decided.get("experiment"):
        body["experiment"] = decided["experiment"]
    body["warnings"] = [*notes, *rec.warnings]
    if query.debug:
        body["debugTrace"] = debug_trace(query, result)
    return body
