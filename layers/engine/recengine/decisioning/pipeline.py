"""One flow applied to one request's candidates, pure: qualification rules, then contact policies,
then the flow's ranker and guardrails. What the recommend path calls once it has read the flow's
rules and policies (service.flow_rules / flow_policies) and the customer's exposures and outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from .contact_policy import EVERY_OFFER, blocked
from .flows import Ranked, rank
from .guardrails import cap_per_category
from .model import ContactPolicy, Flow, QualificationRule
from .qualification import qualify


@dataclass(frozen=True)
class Decision:
    """The flow's answer and, for a debug trace, why each other candidate is not in it."""

    ranked: list[Ranked]
    qualification: dict[str, str] = field(default_factory=dict)  # offer -> the rule that kept it out
    contact_policy: dict[str, str] = field(default_factory=dict)  # offer -> the policy that blocked it
    guardrails: dict[str, str] = field(default_factory=dict)  # offer -> the guardrail that dropped it
    notes: list[str] = field(default_factory=list)  # rules that could not be evaluated for this request


def decide(flow: Flow, rules: Iterable[QualificationRule], policies: Iterable[ContactPolicy],
           candidates_with_scores: Mapping[str, float], items_metadata: Mapping[str, Mapping[str, Any]], *,
           segments: Sequence[str] | None = None, attributes: Mapping[str, Any] | None = None,
           exposures: Iterable[Mapping[str, Any]] = (), outcomes: Iterable[Mapping[str, Any]] = (),
           now: float, channel: str | None = None, placement: str | None = None) -> Decision:
    """Candidates (id -> model score) through the flow. Offers without metadata are judged on what
    the request carries (an empty document)."""
    offers = {offer: items_metadata.get(offer) or {} for offer in candidates_with_scores}
    qualified = qualify(rules, offers, segments, attributes, flow.category_field)
    stopped = blocked(policies, exposures, outcomes, now, channel, placement, candidates=qualified.admitted)
    stopped.pop(EVERY_OFFER, None)
    open_offers = {o: candidates_with_scores[o] for o in qualified.admitted if o not in stopped}
    # Ranked once without the guardrail; the cap then keeps the flow's answer (what `rank(flow, ...)`
    # returns: the same order, capped, cut at the limit) and names the offers it dropped.
    uncapped = rank(replace(flow, max_per_category=None, limit=max(len(open_offers), 1)), open_offers,
                    items_metadata, attributes)
    kept, dropped = cap_per_category([r.offer_id for r in uncapped], items_metadata, flow.max_per_category,
                                     flow.category_field)
    by_id = {r.offer_id: r for r in uncapped}
    ranked = [by_id[offer] for offer in kept[:flow.limit]]
    return Decision(ranked, qualified.excluded, {o: r for o, r in stopped.items() if o in offers}, dropped,
                    qualified.notes)
