"""From a validated RecommendRequest to a recommend.Query (identity, limits, rules, warnings),
and from a served Result to exposure log records."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from aws_lambda_powertools import Logger

from ..api.schemas import MAX_LIMIT, RecommendRequest
from ..attribution.records import exposure_record, pseudonymous_id
from .attribution import user_key as caller_key
from ..errors import StoreError
from ..stores.dynamo import ExposureStore
from .recommend import Deadline, Query, Result, _warn
from .rules import compile_rules

logger = Logger(child=True)
ANONYMOUS = "anonymous"


def identity(tenant_id: str, user_id: str | None, session_id: str | None, source_ip: str | None,
             user_agent: str | None) -> tuple[str | None, str, dict | None]:
    """(user id for history, pseudonymous user key, warning). Without a user id (or with the
    literal "anonymous"), a stable anonymous id is derived from the session, else from the
    client address and user agent, so caps and attribution still see one visitor."""
    key = caller_key(tenant_id, user_id, session_id)  # the key outcomes of this caller will carry
    if user_id and user_id.lower() != ANONYMOUS:
        return user_id, key, None
    if key is not None:
        return None, key, _warn("anonymous_user", "no user_id: an anonymous id was derived from the session id")
    seed = hashlib.sha256(f"{source_ip or '-'}\x00{user_agent or '-'}".encode()).hexdigest()
    key = pseudonymous_id(tenant_id, f"client:{seed}")
    return None, key, _warn("anonymous_user", "no user_id or session_id: an anonymous id was derived from the "
                            "client address and user agent; send a user_id or session_id for personal results")


def _ranking_context(body: RecommendRequest) -> dict[str, Any]:
    """The request's context plus the named fields that describe it (surface, channel, locale...)."""
    context = {k: v for k, v in (body.context or {}).items() if v is not None}
    for name in ("surface", "channel", "locale", "currency"):
        value = getattr(body, name)
        if value is not None:
            context.setdefault(name, value)
    return context


def build_query(tenant_id: str, body: RecommendRequest, *, source_ip: str | None = None,
                user_agent: str | None = None, deadline: Deadline | None = None) -> tuple[Query, list[dict], str | None]:
    """The service query, the warnings the request itself earns, and the anonymous key if derived."""
    warnings: list[dict] = []
    user_id, user_key, anonymous = identity(tenant_id, body.user_id, body.session_id, source_ip, user_agent)
    if anonymous:
        warnings.append(anonymous)
    if body.ignored_fields:
        warnings.append(_warn("ignored_fields", f"fields not used by this API were ignored: "
                              f"{', '.join(body.ignored_fields[:20])}"))
    limit = body.limit
    if limit > MAX_LIMIT:
        warnings.append(_warn("limit_clipped", f"limit {limit} is above the maximum: {MAX_LIMIT} returned at most"))
        limit = MAX_LIMIT
    placements = None
    if body.placements:
        placements = []
        for p in body.placements:
            wanted = p.limit or limit
            if wanted > MAX_LIMIT:
                warnings.append(_warn("limit_clipped", f"placement {p.placement_id}: limit {wanted} clipped to {MAX_LIMIT}"))
                wanted = MAX_LIMIT
            placements.append((p.placement_id, wanted))
    elif body.deduplicate:
        warnings.append(_warn("deduplicate_without_placements", "deduplicate applies across placements; none were given"))
    rules, notes = compile_rules(body.all_rules(), body.segments, body.attributes)
    for note in notes:
        warnings.append(_warn("rule_skipped", f"a rule was not applied: {note}"))
    cap = (body.frequency_cap.max_impressions, body.frequency_cap.window_hours * 3600) if body.frequency_cap else None
    query = Query(tenant_id, user_id, body.session_id, user_key, limit, body.item_ids, body.algorithm, body.model_id,
                  body.surface, _ranking_context(body), rules, body.exclude_items or (), placements, body.deduplicate,
                  body.debug, cap, body.source, deadline)
    return query, warnings, user_key if anonymous else None


def log_exposures(store: ExposureStore | None, q: Query, result: Result, request_id: str,
                  now: float | None = None) -> dict | None:
    """Writes one exposure per served list (table + structured log line); a failed write loses
    nothing (the log line holds the record) and answers a warning instead of failing the request."""
    now = time.time() if now is None else now
    failed = False
    session_key = caller_key(q.tenant_id, None, q.session_id)
    for served in result.lists:
        if not served.items:
            continue
        try:
            record = exposure_record(request_id=request_id, tenant_id=q.tenant_id, user_key=q.user_key,
                                     session_key=session_key,
                                     surface=q.surface, placement=served.placement, model_id=result.model_id,
                                     algorithm=result.source, items=served.items, ts=now)
        except ValueError as exc:  # a record the schema would refuse: say so, keep serving
            failed = True
            logger.warning("exposure not recorded", extra={"tenant_id": q.tenant_id, "request_id": request_id,
                                                           "error": str(exc)})
            continue
        logger.info("exposure", extra={"exposure": record})
        if store is None:
            continue
        try:
            store.put(record)
        except StoreError as exc:
            failed = True
            logger.warning("exposure not stored", extra={"tenant_id": q.tenant_id, "request_id": request_id,
                                                         "error": str(exc)})
    if failed:
        return _warn("exposure_not_stored", "the exposure could not be stored (it is in the service log); "
                     "frequency caps may miss this list")
    return None
