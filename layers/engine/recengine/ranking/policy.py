"""The seam through which a decision flow (recengine.decisioning) shapes each list ranking serves.
Ranking scores and filters candidates as always; a policy then chooses among the best `pool` of them
with what ranking read in its one round trip (catalogue rows, the customer's exposures and events).
Ranking defines the seam and decisioning implements it, so ranking never imports decisioning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence


@dataclass
class Chosen:
    """A policy's answer for one list: (item, score) in order, and why each other candidate is out."""

    items: list[tuple[str, float]]
    filtered: dict[str, str] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)  # what the debug trace shows (flow, reasons by stage)


class ListPolicy(Protocol):
    lookback_s: float  # how far back the customer's exposures are read (0: not at all)
    exclude_seen: bool  # False: items the customer interacted with stay candidates (an offer set)

    def pool(self, limit: int) -> int:
        """How many active, unfiltered candidates the policy chooses from for a list of `limit`."""

    def choose(self, scored: Sequence[tuple[str, float]], rows: Mapping[str, dict | None],
               exposures: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]],
               placement: str | None, limit: int) -> Chosen:
        """The list: at most `limit` of `scored` (model order), from their catalogue rows and the
        customer's exposure records and events (outcomes)."""


class Eligibility(Protocol):
    """Whether an offer may be shown on this request's channel and placement now, and the creative to
    show (decisioning.offers implements it): checked on every candidate of every list with the rows
    ranking already read, so an ineligible offer is passed over like an inactive item."""

    def check(self, item_id: str, row: Mapping[str, Any] | None, placement: str | None
              ) -> tuple[str | None, dict | None]:
        """(why the offer is out, None when it is eligible; its creative, None when it has none)."""
