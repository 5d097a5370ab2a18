"""Everything one recommend request reads from AWS, issued together in ONE round trip before ranking:
the user's and the session's history, the exposure log (frequency cap), the precomputed list
(`source: batch`), the catalogue changes since the model's snapshot, and whatever the caller runs
beside them (the meter). Ranking then reads the catalogue from memory (catalogue.view)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..catalogue.snapshot import CatalogueSnapshot
from ..catalogue.view import CatalogueView
from ..concurrency import attempt, gather, ready
from ..errors import StoreError
from ..observability import logger
from .query import Query, warn

HISTORY_LIMIT = 200  # latest user events folded in per request
SESSION_LIMIT = 50


@dataclass
class Reads:
    history: list[str]
    weights: list[float]
    capped: set[str]
    catalogue: CatalogueView
    precomputed: dict | None = None
    warnings: list[dict] = field(default_factory=list)
    exposures: list[dict] = field(default_factory=list)  # the customer's, when a cap or a flow's policies need them
    events: list[dict] = field(default_factory=list)  # the user's latest events and Respond outcomes (a flow's)


def _nothing() -> None:
    return None


def read_all(deps: Any, q: Query, model_id: str | None, alongside: Callable[[], Any] | None = None,
             beside: Sequence[Callable[[], Any]] = ()) -> Reads:
    """The request's reads, in parallel with `alongside` (its exception, e.g. the meter's 402, is
    raised once every read has finished) and `beside` (calls that must not fail: their values are
    dropped, e.g. an experiment's assignment record). A read that fails leaves its part out with a warning
    (history, frequency cap) or falls back to reading the items table (catalogue changes)."""
    tenant = q.tenant_id
    snapshot, read_changes = catalogue_changes(deps.models, deps.items, tenant, model_id)
    lookback = max(q.frequency_cap[1] if q.frequency_cap else 0.0, q.policy.lookback_s if q.policy else 0.0)
    capping = lookback > 0 and deps.exposures is not None and bool(q.user_key)
    batch = q.source == "batch" and bool(q.user_id) and not q.placements and deps.lists is not None
    now = time.time()
    since = now - lookback
    personalise = getattr(deps, "personalise", None)
    calls = [
        alongside or _nothing,
        *history_reads(deps.interactions, tenant, q.user_id, q.session_id),
        attempt(lambda: deps.exposures.recent(tenant, q.user_key, since), None) if capping else ready(([], None)),
        # a flow's contact policies also read the outcomes recorded by the Respond API (a cooldown)
        attempt(lambda: deps.exposures.outcomes(tenant, q.user_key, since), None) if capping and q.policy
        else ready(([], None)),
        attempt(lambda: deps.lists.get_list(tenant, q.user_id, q.algorithm), None) if batch else ready((None, None)),
        read_changes,
        # a user the portal marked inactive (a failed read personalises as before: a courtesy, not a lock)
        attempt(lambda: personalise(tenant, q.user_id), True) if personalise is not None and q.user_id
        else ready((True, None)),
    ]
    _, (user_rows, user_error), (session_rows, session_error), (shown, shown_error), (responded, _responded_error), \
        (precomputed, _list_error), (changes, changes_error), (active, _active_error) = \
        gather(*calls, *beside)[:len(calls)]
    warnings: list[dict] = []
    _history_warning(tenant, user_error, session_error, warnings)
    history, weights = merge_history(user_rows, session_rows)
    if active is False:
        history, weights, precomputed = [], [], None
        warnings.append(warn("user_inactive", "this user is marked inactive: non-personalised items returned"))
    capped = frequency_capped(q, shown, shown_error, capping, warnings, now)
    if _list_error:
        logger.warning("precomputed list not read; computed live", extra={"tenant_id": tenant,
                                                                          "error": str(_list_error)})
    if (shown_error is not None or _responded_error is not None) and q.policy is not None and not q.frequency_cap:
        warnings.append(warn("contact_policy_unavailable", "the exposure log could not be read just now: "
                             "contact policies were applied without it"))
    return Reads(history, weights, capped, catalogue_view(deps.items, tenant, snapshot, changes, changes_error),
                 precomputed, warnings, list(shown or ()),
                 [] if active is False else [*(user_rows or ()), *(responded or ())])


def catalogue_changes(models: Any, items: Any, tenant_id: str, model_id: str | None
                      ) -> tuple[CatalogueSnapshot | None, Callable[[], tuple[list[dict] | None, StoreError | None]]]:
    """The served model's catalogue snapshot and the read of the changes since it (to gather with the
    request's other reads); without a snapshot, a read that does nothing."""
    snapshot = models.catalogue(tenant_id, model_id) if model_id is not None else None
    if snapshot is None:
        return None, ready((None, None))
    return snapshot, attempt(lambda: items.changes_since(tenant_id, snapshot.taken_at), None)


def catalogue_view(items: Any, tenant_id: str, snapshot: CatalogueSnapshot | None, changes: list[dict] | None,
                   error: StoreError | None) -> CatalogueView:
    """The catalogue as this request sees it; an unread change record means reading the items table."""
    if error is not None:
        logger.warning("catalogue changes not read; ranking reads the items table",
                       extra={"tenant_id": tenant_id, "error": str(error)})
    return CatalogueView(items, snapshot, changes)


def history_reads(store: Any, tenant_id: str, user_id: str | None, session_id: str | None) -> list[Callable]:
    """The user's and the session's latest events, as two reads to gather (nothing to read: [])."""
    return [attempt(lambda: store.recent_for_user(tenant_id, user_id, HISTORY_LIMIT), []) if user_id
            else ready(([], None)),
            attempt(lambda: store.recent_for_session(tenant_id, session_id, SESSION_LIMIT), []) if session_id
            else ready(([], None))]


def merge_history(user_rows: list[dict], session_rows: list[dict]) -> tuple[list[str], list[float]]:
    """Items and weights from the user's recent history plus the session, each event once, oldest
    first; rows past their tenant's interaction TTL are left out (DynamoDB deletes expired rows lazily)."""
    rows: dict[str, dict] = {}
    now = time.time()
    for row in [*user_rows, *session_rows]:
        if row.get("expires_at") is not None and float(row["expires_at"]) <= now:
            continue
        rows.setdefault(row["event_id"], row)
    ordered = sorted(rows.values(), key=lambda r: r["sk"])
    return [r["item_id"] for r in ordered], [float(r["weight"]) for r in ordered]


def frequency_capped(q: Query, shown: list[dict] | None, error: StoreError | None, capping: bool,
                     warnings: list[dict], now: float | None = None) -> set[str]:
    """Items shown to this user on this surface `max` times within the window (exposure log; the
    read may reach further back for a flow's contact policies)."""
    if q.frequency_cap is None:
        return set()
    if not capping:
        warnings.append(warn("frequency_cap_unavailable", "no exposure log to apply the frequency cap to"))
        return set()
    if error is not None:  # a cap is a courtesy to the user: the list is still served, with a warning
        logger.warning("exposure log not read; frequency cap not applied", extra={"tenant_id": q.tenant_id,
                                                                                  "error": str(error)})
        warnings.append(warn("frequency_cap_unavailable", "the exposure log could not be read just now: "
                             "the frequency cap was not applied"))
        return set()
    limit, window_s = q.frequency_cap
    since = (time.time() if now is None else now) - window_s
    counts: dict[str, int] = {}
    for row in shown or ():
        if (row.get("surface") or None) != q.surface or float(row.get("ts", since)) < since:
            continue
        for item in row.get("items") or ():
            counts[item["id"]] = counts.get(item["id"], 0) + 1
    return {i for i, n in counts.items() if n >= limit}


def load_history(store: Any, tenant_id: str, user_id: str | None, session_id: str | None,
                 warnings: list[dict] | None = None) -> tuple[list[str], list[float]]:
    """The user's and the session's recent history (both read together), as ranking folds it in;
    a part that cannot be read is left out with the warning `history_unavailable` (in `warnings`)."""
    (user_rows, user_error), (session_rows, session_error) = gather(
        *history_reads(store, tenant_id, user_id, session_id))
    _history_warning(tenant_id, user_error, session_error, warnings)
    return merge_history(user_rows, session_rows)


def _history_warning(tenant_id: str, user_error: StoreError | None, session_error: StoreError | None,
                     warnings: list[dict] | None) -> None:
    """`history_unavailable` when a part could not be read (counted as a Warnings metric by the service)."""
    unread = [what for what, error in (("user history", user_error), ("session", session_error)) if error]
    for what, error in (("user history", user_error), ("session", session_error)):
        if error:
            logger.warning("history not read; ranked without it", extra={"tenant_id": tenant_id, "part": what,
                                                                        "error": str(error)})
    if unread and warnings is not None:
        warnings.append(warn("history_unavailable", f"the {' and '.join(unread)} could not be read just now: "
                             "the list was ranked without it"))
