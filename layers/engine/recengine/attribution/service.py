"""Attribution: interactions that name a served list's request id are its outcomes. Outcome
records go to the log as they arrive; both logs can be exported as JSONL for the report CLI."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..errors import DomainError, NotFoundError
from ..observability import count, logger
from .records import outcome_record, pseudonymous_id
from .store import ExposureStore

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Pseudonyms:
    """Keyed pseudonyms of callers (HMAC with the deployment's pseudonym key, from Secrets Manager):
    the only form in which a user or session id reaches a log or the exposure table."""

    key: str = field(repr=False)

    def user_key(self, tenant_id: str, user_id: str | None, session_id: str | None) -> str | None:
        """The pseudonymous key of a caller, the same for its exposures (recommend) and its outcomes
        (interactions); None for a caller with neither id (recommend then derives one from the client)."""
        if user_id and user_id.lower() != ANONYMOUS:
            return pseudonymous_id(self.key, tenant_id, f"user:{user_id}")
        if session_id:
            return pseudonymous_id(self.key, tenant_id, f"session:{session_id}")
        return None

    def client_key(self, tenant_id: str, source_ip: str | None, user_agent: str | None) -> str:
        """A stable key for a caller with no id at all: its address and user agent, hashed."""
        seed = hashlib.sha256(f"{source_ip or '-'}\x00{user_agent or '-'}".encode()).hexdigest()
        return pseudonymous_id(self.key, tenant_id, f"client:{seed}")

    def outcome_of(self, tenant_id: str, event: dict) -> dict | None:
        """The outcome.v1 record of an interaction event that carries a request id, else None."""
        key = self.user_key(tenant_id, event.get("user_id"), event.get("session_id"))
        if not event.get("request_id") or key is None:
            return None
        try:
            return outcome_record(request_id=event["request_id"], tenant_id=tenant_id, user_key=key,
                                  item_id=event["item_id"], type=event["type"],
                                  value=float(event["value"]) if event.get("value") is not None else None,
                                  ts=float(event.get("timestamp") or event.get("ts")), event_id=event["event_id"])
        except (ValueError, KeyError, TypeError):
            return None


def log_outcomes(pseudonyms: Pseudonyms, tenant_id: str, events: Iterable[dict], accepted: set[str]) -> int:
    """One structured `outcome` line per newly accepted event with a request id (retries of the
    same event id are not logged twice)."""
    n = 0
    for event in events:
        if event["event_id"] not in accepted:
            continue
        record = pseudonyms.outcome_of(tenant_id, event)
        if record is not None:
            logger.info("outcome", extra={"outcome": record})
            n += 1
    return n


def export_exposures(store: ExposureStore, tenant_id: str, since_ts: float = 0.0) -> Iterator[dict]:
    for row in store.tenant_exposures(tenant_id, since_ts):
        yield store.as_record(row)


def export_outcomes(pseudonyms: Pseudonyms, tenant_id: str, event_rows: Iterable[dict],
                    responded: Iterable[dict] = ()) -> Iterator[dict]:
    """Outcomes among a tenant's stored user events (session-only events are in the log only), then
    those recorded by the Respond API (`responded`: ExposureStore.tenant_outcomes)."""
    yield from _event_outcomes(pseudonyms, tenant_id, event_rows)
    yield from responded


def _event_outcomes(pseudonyms: Pseudonyms, tenant_id: str, event_rows: Iterable[dict]) -> Iterator[dict]:
    for row in event_rows:
        if not row.get("request_id"):
            continue
        event_id = row.get("event_id") or row["sk"].split("#", 1)[-1]  # the index keeps it in the sort key
        record = pseudonyms.outcome_of(tenant_id, {**row, "event_id": event_id, "value": None})
        if record is not None:
            yield record


class OfferNotInDecisionError(DomainError):
    """The Respond API named an offer the decision did not show (422)."""

    code = "offer-not-in-decision"


@dataclass(frozen=True)
class Response:
    """An outcome recorded against its decision: the outcome.v1 record, and whether it is new
    (False: the same outcome of the same offer in the same decision was already recorded)."""

    record: dict
    created: bool


def respond(store: ExposureStore, tenant_id: str, interaction_id: str, offer_id: str, outcome: str,
            value: float | None, now: float | None = None) -> Response:
    """Records the outcome of an offer shown by decision `interaction_id` (the request id its
    exposures carry), under the customer the decision was made for: one outcome.v1 log line and
    one stored row (contact policies' cooldowns read it; the customer's erasure deletes it). Once
    per (decision, offer, outcome): a repeat is answered as a duplicate, not counted twice.
    NotFoundError when the tenant has no such decision (never made, expired or erased),
    OfferNotInDecisionError when the offer was not in it."""
    now = time.time() if now is None else now
    exposures = store.by_request(tenant_id, interaction_id)
    if not exposures:
        raise NotFoundError(f"no decision {interaction_id!r} (unknown, expired or erased)")
    shown = next((e for e in exposures if any(i["id"] == offer_id for i in e.get("items") or ())), None)
    if shown is None:
        raise OfferNotInDecisionError(f"offer {offer_id!r} was not in decision {interaction_id!r}")
    record = outcome_record(request_id=interaction_id, tenant_id=tenant_id, user_key=shown["user_key"],
                            item_id=offer_id, type=outcome, value=value, ts=now, event_id=uuid.uuid4().hex)
    created = store.put_outcome(record)
    if created:
        logger.info("outcome", extra={"outcome": record})
        count("OutcomesRecorded", type=outcome)
    return Response(record, created)
