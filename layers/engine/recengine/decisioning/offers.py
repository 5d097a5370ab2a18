"""Offer eligibility, pure: whether an offer may be shown on the request's channel and placement now
(its declared channels, placements and start/end window), which of its creatives fits, and the
caller's exclusions (`excludeOffers`, `excludeCreatives`). Each refusal carries a stable reason code
that can go into a debug trace.

`fields` is an item's decisioning fields as the catalogue stores them (catalogue.model.Offer.as_dict:
`channels`, `placements`, `start_at`/`end_at` ISO 8601, `priority`, `value`, `creatives`); an item
that declares none of them is eligible everywhere, always, with no creative."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from ..catalogue.model import offer_fields
from ..ranking.query import RecommendCall

# Stable reason codes (debugTrace and tests read them).
EXCLUDED_OFFER = "excluded_offer"
CHANNEL_MISMATCH = "channel_mismatch"
PLACEMENT_MISMATCH = "placement_mismatch"
NOT_STARTED = "not_started"
ENDED = "ended"
INVALID_WINDOW = "invalid_window"
NO_MATCHING_CREATIVE = "no_matching_creative"
CREATIVES_EXCLUDED = "creatives_excluded"


@dataclass(frozen=True)
class Verdict:
    """Eligible (truthy) or not, with the reason code and a short human explanation."""

    ok: bool
    reason: str | None = None
    detail: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    @property
    def trace(self) -> str:
        """The reason as one debugTrace string, e.g. `channel_mismatch: offer runs on email, sms`."""
        return "eligible" if self.ok else f"{self.reason}: {self.detail}" if self.detail else str(self.reason)


ELIGIBLE = Verdict(True)


@dataclass(frozen=True)
class Choice:
    """An offer's eligibility and, when eligible and it has creatives, the creative to show."""

    verdict: Verdict
    creative: dict | None = None


@dataclass(frozen=True)
class Selection:
    """Candidates split by eligibility: the kept offers (in the order given) with their creative,
    and each refused offer's verdict."""

    kept: dict[str, dict | None] = field(default_factory=dict)
    refused: dict[str, Verdict] = field(default_factory=dict)

    def reasons(self) -> dict[str, str]:
        """offer -> reason string, the shape decisioning.pipeline.Decision keeps for a debug trace."""
        return {offer: verdict.trace for offer, verdict in self.refused.items()}


def _fold(value: Any) -> str | None:
    return value.casefold() if isinstance(value, str) and value else None


def _keys(*values: str | None) -> set[str]:
    return {k for k in map(_fold, values) if k is not None}


def _declared(fields: Mapping[str, Any], name: str) -> set[str]:
    values = fields.get(name)
    return _keys(*values) if isinstance(values, (list, tuple)) else set()


def _instant(value: Any) -> datetime:
    """An ISO 8601 timestamp (naive ones are UTC); ValueError when it is not one."""
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _as_datetime(now: float | datetime) -> datetime:
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(now), tz=timezone.utc)


def in_window(fields: Mapping[str, Any], now: float | datetime) -> Verdict:
    """Inside [start_at, end_at): the start included, the end excluded; an unreadable bound refuses
    the offer (a stored window is validated at the edge, so that means a damaged row)."""
    moment = _as_datetime(now)
    try:
        start = _instant(fields["start_at"]) if fields.get("start_at") is not None else None
        end = _instant(fields["end_at"]) if fields.get("end_at") is not None else None
    except ValueError:
        return Verdict(False, INVALID_WINDOW, "the offer's start_at or end_at is not an ISO 8601 timestamp")
    if start is not None and moment < start:
        return Verdict(False, NOT_STARTED, f"starts at {fields['start_at']}")
    if end is not None and moment >= end:
        return Verdict(False, ENDED, f"ended at {fields['end_at']}")
    return ELIGIBLE


def eligible(fields: Mapping[str, Any] | None, channel: str | None, placement: str | None,
             now: float | datetime, channel_id: str | None = None) -> Verdict:
    """Whether the offer may be shown: its `channels` (types or specific channel ids) include the
    request's `channel` or `channel_id` when both sides name one; its `placements` include the
    request's `placement` likewise; `now` (epoch seconds or a datetime) is inside its window. What
    either side leaves out does not restrict. Creatives are judged by pick_creative / choose."""
    fields = fields or {}
    wanted = _keys(channel, channel_id)
    channels = _declared(fields, "channels")
    if wanted and channels and not wanted & channels:
        return Verdict(False, CHANNEL_MISMATCH, f"offer runs on {', '.join(sorted(channels))}")
    slot = _fold(placement)
    placements = _declared(fields, "placements")
    if slot is not None and placements and slot not in placements:
        return Verdict(False, PLACEMENT_MISMATCH, f"offer fits {', '.join(sorted(placements))}")
    return in_window(fields, now)


def _creative_rank(creative: Mapping[str, Any], channel: str | None, channel_id: str | None,
                   placement: str | None) -> int | None:
    """How well a creative fits the request (higher: more specific), or None when it does not fit.
    A creative's `channel` (type or id) and `channelId` fit when one of them is the request's channel
    or channel id, except that two different specific channel ids never fit; its `placement` fits the
    request's placement. A side left unnamed (by the creative or by the request) fits anything."""
    wanted = _keys(channel, channel_id)
    own = _keys(creative.get("channel"), creative.get("channelId"))
    rank = 0
    if wanted and own:
        own_id, wanted_id = _fold(creative.get("channelId")), _fold(channel_id)
        if own_id is not None and wanted_id is not None and own_id != wanted_id:
            return None
        if not wanted & own:
            return None
        rank += 1
    slot, own_slot = _fold(placement), _fold(creative.get("placement"))
    if slot is not None and own_slot is not None:
        if slot != own_slot:
            return None
        rank += 2
    return rank


def _creatives(fields: Mapping[str, Any]) -> list[dict]:
    creatives = fields.get("creatives")
    return [c for c in creatives if isinstance(c, dict)] if isinstance(creatives, (list, tuple)) else []


def pick_creative(fields: Mapping[str, Any] | None, channel: str | None, placement: str | None,
                  exclude_creatives: Iterable[str] = (), channel_id: str | None = None) -> dict | None:
    """The creative to show for the request: among those not excluded, the one that fits and names
    the most of the request (placement before channel), the first listed among equals; None when
    none fits (or the offer has no creatives)."""
    excluded = set(exclude_creatives)
    best, best_rank = None, -1
    for creative in _creatives(fields or {}):
        if creative.get("id") in excluded:
            continue
        rank = _creative_rank(creative, channel, channel_id, placement)
        if rank is not None and rank > best_rank:
            best, best_rank = creative, rank
    return best


def choose(fields: Mapping[str, Any] | None, *, channel: str | None, placement: str | None, now: float | datetime,
           channel_id: str | None = None, exclude_creatives: Iterable[str] = ()) -> Choice:
    """The offer's eligibility with its creative. An offer with creatives and none left to show is
    refused: `creatives_excluded` when the caller's excludeCreatives removed every one,
    `no_matching_creative` when none fits the request's channel / placement. An offer with creatives
    shown where the request names no channel or placement gets its first creative not excluded."""
    fields = fields or {}
    verdict = eligible(fields, channel, placement, now, channel_id)
    if not verdict:
        return Choice(verdict)
    creatives = _creatives(fields)
    if not creatives:
        return Choice(ELIGIBLE)
    excluded = set(exclude_creatives)
    if all(c.get("id") in excluded for c in creatives):
        return Choice(Verdict(False, CREATIVES_EXCLUDED, "every creative of the offer is in excludeCreatives"))
    creative = pick_creative(fields, channel, placement, excluded, channel_id)
    if creative is None:
        named = ", ".join(f"{n}={v}" for n, v in (("channel", channel), ("channelId", channel_id),
                                                   ("placement", placement)) if v is not None)
        return Choice(Verdict(False, NO_MATCHING_CREATIVE, f"no creative for {named}"))
    return Choice(ELIGIBLE, creative)


def exclude_offers(candidates: Iterable[str], exclude: Iterable[str]) -> dict[str, Verdict]:
    """The candidates the caller excluded by id (`excludeOffers`), each with its verdict."""
    excluded = set(exclude)
    return {offer: Verdict(False, EXCLUDED_OFFER, "in excludeOffers") for offer in candidates if offer in excluded}


def select(candidates: Sequence[str], offers: Mapping[str, Mapping[str, Any] | None], *, channel: str | None,
           placement: str | None, now: float | datetime, channel_id: str | None = None,
           excluded_offers: Iterable[str] = (), exclude_creatives: Iterable[str] = ()) -> Selection:
    """Every candidate through exclusion and eligibility, in order: what the recommend pipeline calls
    once per list (per placement), before ranking. `offers`: id -> decisioning fields (an id missing
    from it is an item without any, hence eligible)."""
    refused: dict[str, Verdict] = exclude_offers(candidates, excluded_offers)
    kept: dict[str, dict | None] = {}
    excluded_creatives = set(exclude_creatives)
    for offer in candidates:
        if offer in refused or offer in kept:
            continue
        choice = choose(offers.get(offer), channel=channel, placement=placement, now=now, channel_id=channel_id,
                        exclude_creatives=excluded_creatives)
        if choice.verdict:
            kept[offer] = choice.creative
        else:
            refused[offer] = choice.verdict
    return Selection(kept, refused)


def select_for_call(call: RecommendCall, candidates: Sequence[str], rows: Mapping[str, Mapping[str, Any]],
                    now: float | datetime, placement: str | None = None) -> Selection:
    """`select` for one list of a recommend request: `rows` are the candidates' catalogue rows (the
    request's CatalogueView.get_many), `placement` the list's placement id (a multi-placement
    request's `placementId`), else the request's own `placement`; the channel, channel id and
    exclusions are the request's (`excludeOffers` is `exclude_items`)."""
    return select(candidates, {offer: offer_fields(dict(row)) for offer, row in rows.items()},
                  channel=call.channel, placement=placement if placement is not None else call.placement, now=now,
                  channel_id=call.channel_id, excluded_offers=call.exclude_items,
                  exclude_creatives=call.exclude_creatives)


@dataclass(frozen=True)
class OfferEligibility:
    """ranking.policy.Eligibility for one recommend request: its channel, channel id, placement (a
    list's own placement id first), the time it is decided at and its excluded creatives. The
    request's `excludeOffers` are the ranking's own exclusions (`exclude_items`), applied before."""

    channel: str | None
    channel_id: str | None
    placement: str | None
    now: float
    exclude_creatives: frozenset[str] = frozenset()

    @classmethod
    def for_call(cls, call: RecommendCall, now: float) -> "OfferEligibility":
        return cls(call.channel, call.channel_id, call.placement, now, frozenset(call.exclude_creatives))

    def check(self, item_id: str, row: Mapping[str, Any] | None, placement: str | None
              ) -> tuple[str | None, dict | None]:
        fields = offer_fields(row) if row else {}
        if not fields:  # an item that declares no decisioning fields: eligible everywhere, no creative
            return None, None
        choice = choose(fields, channel=self.channel, placement=placement if placement is not None else self.placement,
                        now=self.now, channel_id=self.channel_id, exclude_creatives=self.exclude_creatives)
        return (None, choice.creative) if choice.verdict else (choice.verdict.trace, None)
