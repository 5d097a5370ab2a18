"""Contact policies evaluated over one customer's exposure and outcome records: which offers may not
be shown now, and why. Pure: the caller reads the records (the exposure log, the customer's events).

Exposures are exposure.v1 records (`ts`, `items[].id`, `placement`, and `channel` when the writer
sets it, else `surface`); outcomes are outcome.v1 records or interaction rows (`item_id`, `type`,
`ts`)."""

from __future__ import annotations

import calendar
import time
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from .model import ContactPolicy

EVERY_OFFER = "*"  # the key of a reason that blocks every offer (a customer's daily maximum)


def _channel(exposure: Mapping[str, Any]) -> str | None:
    return exposure.get("channel") or exposure.get("surface")


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def applies(policy: ContactPolicy, channel: str | None, placement: str | None) -> bool:
    """A policy restricted to a channel or placement binds only requests made there."""
    if not policy.enabled:
        return False
    if policy.channel is not None and not _same(policy.channel, channel):
        return False
    return policy.placement is None or _same(policy.placement, placement)


def _day_start(now: float) -> float:
    year, month, day = time.gmtime(now)[:3]
    return float(calendar.timegm((year, month, day, 0, 0, 0)))


def _in_scope(policy: ContactPolicy, exposure: Mapping[str, Any], channel: str | None, placement: str | None) -> bool:
    """Whether an exposure counts against a cap scoped to the request's channel or placement."""
    if policy.scope == "channel":
        return _same(_channel(exposure), channel)
    if policy.scope == "placement":
        return _same(exposure.get("placement"), placement)
    return True


def _frequency_cap(policy: ContactPolicy, exposures: Sequence[Mapping[str, Any]], now: float,
                   channel: str | None, placement: str | None) -> dict[str, str]:
    since = now - float(policy.window_hours or 0) * 3600
    shown: Counter = Counter()
    for exposure in exposures:
        if float(exposure.get("ts", 0)) >= since and _in_scope(policy, exposure, channel, placement):
            shown.update({str(item["id"]) for item in exposure.get("items") or ()})
    where = {"offer": "", "channel": f" on channel {channel}", "placement": f" in placement {placement}"}[policy.scope]
    return {offer: f"policy {policy.policy_id} ({policy.name}): shown {n} times{where} in the last "
                   f"{policy.window_hours:g} h (max {policy.max_impressions})"
            for offer, n in shown.items() if n >= int(policy.max_impressions or 0)}


def _cooldown(policy: ContactPolicy, outcomes: Sequence[Mapping[str, Any]], now: float) -> dict[str, str]:
    since = now - float(policy.hours or 0) * 3600
    out: dict[str, str] = {}
    for outcome in outcomes:
        if str(outcome.get("type", "")).casefold() != str(policy.outcome_type or "").casefold():
            continue
        ts = float(outcome.get("ts", 0))
        if ts < since or ts > now:
            continue
        offer = str(outcome.get("item_id") or outcome.get("id"))
        reason = f"policy {policy.policy_id} ({policy.name}): cooling down for {policy.hours:g} h after a " \
                 f"{policy.outcome_type} of {offer}"
        out.setdefault(offer if policy.same_offer else EVERY_OFFER, reason)
    return out


def _daily_max(policy: ContactPolicy, exposures: Sequence[Mapping[str, Any]], now: float) -> dict[str, str]:
    start = _day_start(now)
    shown = sum(len(exposure.get("items") or ()) for exposure in exposures if float(exposure.get("ts", 0)) >= start)
    if shown < int(policy.max_impressions or 0):
        return {}
    return {EVERY_OFFER: f"policy {policy.policy_id} ({policy.name}): {shown} impressions today "
                         f"(max {policy.max_impressions} per customer per day)"}


def blocked(policies: Iterable[ContactPolicy], exposures: Iterable[Mapping[str, Any]],
            outcomes: Iterable[Mapping[str, Any]], now: float, channel: str | None = None,
            placement: str | None = None, candidates: Iterable[str] = ()) -> dict[str, str]:
    """offer id -> the first reason it may not be shown now. A reason that blocks every offer is under
    EVERY_OFFER, and is also given to each of `candidates` (when the caller names them)."""
    exposures, outcomes = list(exposures), list(outcomes)
    out: dict[str, str] = {}
    for policy in policies:
        if not applies(policy, channel, placement):
            continue
        if policy.kind == "frequency_cap":
            found = _frequency_cap(policy, exposures, now, channel, placement)
        elif policy.kind == "cooldown":
            found = _cooldown(policy, outcomes, now)
        else:
            found = _daily_max(policy, exposures, now)
        for offer, reason in found.items():
            out.setdefault(offer, reason)
    if EVERY_OFFER in out:
        for offer in candidates:
            out.setdefault(offer, out[EVERY_OFFER])
    return out


def lookback_s(policies: Iterable[ContactPolicy], now: float) -> float:
    """How far back the caller must read exposures and outcomes for these policies (seconds)."""
    spans = [0.0]
    for policy in policies:
        if policy.kind == "frequency_cap":
            spans.append(float(policy.window_hours or 0) * 3600)
        elif policy.kind == "cooldown":
            spans.append(float(policy.hours or 0) * 3600)
        else:
            spans.append(now - _day_start(now))
    return max(spans)
