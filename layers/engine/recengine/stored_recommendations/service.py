"""Stored recommendations (RecommendAI's "Recommendations (Admin Management)"): the precomputed lists
batch generation writes, seen one record per (user, algorithm, item), with the item's catalogue
metadata. Listing reads the tenant's list index (one query) and the lists a page needs (one
BatchGetItem); deleting a record takes the item out of its list; generating starts a batch job over
a segment of users. A portal account's own records are its linked end user's (`linked_end_user`)."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Callable

from ..batch.service import DEFAULT_CHUNK_USERS
from ..catalogue.store import ItemStore
from ..errors import ConflictError, NotFoundError
from ..events.store import InteractionStore
from ..portal.end_users import EndUserStore
from ..portal.users import inactive_user_ids
from ..ranking.stored_lists import PrecomputedListStore

ALL, ACTIVE = "all", "active"  # the built-in segments; any other userSegment is a tag on end users
_SEP = "\x1f"  # ids never hold control characters (http.schemas.Id), so this separator is unambiguous
# A planning figure, not a measurement: chunks run in parallel on the batch workers, each ranking its
# users one after the other (one history query and one ranking each) after the queue hands it over.
CHUNK_START_MS, PER_USER_MS = 1_000, 20
StartJob = Callable[[list[str] | None], dict]  # the batch job machinery, given a user selection


@dataclass(frozen=True)
class StoredRecommendation:
    id: str
    user_id: str
    algorithm: str
    item_id: str
    score: float | None
    reason: str
    created_at: float
    metadata: dict | None  # the item's catalogue metadata; None once the item is gone from the catalogue


@dataclass(frozen=True)
class RecommendationPage:
    records: list[StoredRecommendation]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class GenerationStarted:
    job_id: str
    status: str  # the batch job's: queued, running, succeeded or failed
    users: int
    estimated_completion_ms: int


def recommendation_id(user_id: str, algorithm: str, item_id: str) -> str:
    """A stable, opaque id for the record: regenerating the same item for the same user and algorithm
    keeps it. It names no tenant; every read is under the caller's tenant's keys."""
    raw = _SEP.join((user_id, algorithm, item_id)).encode()
    return "rec_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_recommendation_id(rec_id: str) -> tuple[str, str, str]:
    """(user, algorithm, item) of an id; NotFoundError for anything that is not one (it names nothing)."""
    body = rec_id.removeprefix("rec_")
    try:
        parts = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split(_SEP)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if not rec_id.startswith("rec_") or len(parts) != 3 or not all(parts):
        raise NotFoundError(f"recommendation {rec_id!r} not found")
    return parts[0], parts[1], parts[2]


def _records(lst: dict, start: int = 0, stop: int | None = None) -> list[tuple[dict, dict]]:
    return [(lst, item) for item in (lst.get("items") or [])[start:stop]]


def _present(items: ItemStore, tenant_id: str, picked: list[tuple[dict, dict]]) -> list[StoredRecommendation]:
    """The records with their catalogue metadata (one BatchGetItem for the page's items)."""
    catalogue = items.get_many(tenant_id, [item["id"] for _, item in picked]) if picked else {}
    out = []
    for lst, item in picked:
        row = catalogue.get(item["id"])
        score = item.get("score")
        out.append(StoredRecommendation(
            recommendation_id(lst["user_id"], lst["algorithm"], item["id"]), lst["user_id"], lst["algorithm"],
            item["id"], float(score) if score is not None else None, str(item.get("reason") or ""),
            float(lst["generated_at"]), row.get("metadata", {}) if row is not None else None))
    return out


def list_recommendations(lists: PrecomputedListStore, items: ItemStore, tenant_id: str, page: int, page_size: int,
                         user_id: str | None = None, algorithm: str | None = None) -> RecommendationPage:
    """One page of the tenant's stored recommendations in (user, algorithm, rank) order, and how many
    match. With `user_id`: one query of that user's lists. Without: one query of the tenant's list index
    (small rows, bounded by its users times algorithms), then only the lists the page falls in."""
    offset = (page - 1) * page_size
    if user_id is not None:
        found = [lst for lst in lists.user_lists(tenant_id, user_id) if algorithm in (None, lst["algorithm"])]
        flat = [rec for lst in found for rec in _records(lst)]
        return RecommendationPage(_present(items, tenant_id, flat[offset:offset + page_size]), len(flat), page,
                                  page_size)
    index = [row for row in lists.index(tenant_id) if algorithm in (None, row["algorithm"])]
    spans, start = [], 0  # the lists the page falls in, with the slice of each it shows
    for row in index:
        n = int(row.get("n") or 0)
        if start + n > offset and start < offset + page_size:  # the list holds part of the page
            spans.append((row["user_id"], row["algorithm"], max(0, offset - start), min(n, offset + page_size - start)))
        start += n
    total = start  # every list counted: the records that match
    fetched = lists.get_lists(tenant_id, [(u, a) for u, a, _, _ in spans])
    picked = [rec for u, a, lo, hi in spans if (u, a) in fetched for rec in _records(fetched[(u, a)], lo, hi)]
    return RecommendationPage(_present(items, tenant_id, picked[:page_size]), total, page, page_size)


def get_recommendation(lists: PrecomputedListStore, items: ItemStore, tenant_id: str, rec_id: str,
                       owner: str | None = None) -> StoredRecommendation:
    """One record by id; with `owner` (a caller who may see only their own), another user's is not found."""
    user_id, algorithm, item_id = parse_recommendation_id(rec_id)
    lst = lists.get_list(tenant_id, user_id, algorithm) if owner in (None, user_id) else None
    picked = [rec for rec in _records(lst) if rec[1].get("id") == item_id] if lst is not None else []
    if not picked:
        raise NotFoundError(f"recommendation {rec_id!r} not found")
    return _present(items, tenant_id, picked[:1])[0]


def delete_recommendation(lists: PrecomputedListStore, tenant_id: str, rec_id: str) -> None:
    """Takes the record's item out of its stored list (recommend no longer serves it from there)."""
    user_id, algorithm, item_id = parse_recommendation_id(rec_id)
    if not lists.remove_item(tenant_id, user_id, algorithm, item_id):
        raise NotFoundError(f"recommendation {rec_id!r} not found")


def linked_end_user(end_users: EndUserStore, tenant_id: str, email: str) -> str:
    """The end user a portal account stands for: the tenant's end-user record (POST /api/users) with
    the account's e-mail, compared case-insensitively (one query of the tenant's profiles). Not found
    without one; a conflict when several records share the e-mail (the link would be a guess)."""
    wanted = email.strip().casefold()
    matches = [u.user_id for u in end_users.all(tenant_id) if wanted and u.email.strip().casefold() == wanted]
    if not matches:
        raise NotFoundError("no end user of this tenant has this account's e-mail: create one with it "
                            "(POST /api/users) to link the account to its recommendations")
    if len(matches) > 1:
        raise ConflictError("several end users have this account's e-mail; keep it on one of them")
    return matches[0]


def segment_users(end_users: EndUserStore, interactions: InteractionStore, tenant_id: str,
                  segment: str) -> list[str] | None:
    """The users a generation covers: `all` every user with events (None: the batch job's own
    default); `active` those, less the ones the portal marked inactive; any other value the end users
    carrying that segment tag (NotFoundError, a 404, when none does: the segment names nobody)."""
    if segment == ALL:
        return None
    if segment == ACTIVE:
        inactive = inactive_user_ids(end_users, tenant_id)
        return None if not inactive else [u for u in interactions.tenant_user_ids(tenant_id) if u not in inactive]
    tagged = [u.user_id for u in end_users.all(tenant_id) if segment in u.segments]
    if not tagged:
        raise NotFoundError(f"no end user carries the segment tag {segment!r}")
    return tagged


def generate(start_job: StartJob, end_users: EndUserStore, interactions: InteractionStore, tenant_id: str,
             segment: str) -> GenerationStarted:
    """Starts the batch job over the segment's users (its daily quota, one-at-a-time lock and user
    limit apply) and estimates when its lists will be stored."""
    job = start_job(segment_users(end_users, interactions, tenant_id, segment))
    users, chunks = int(job.get("total_users", 0)), int(job.get("chunks", 0))
    done = job.get("status") in ("succeeded", "failed")
    per_chunk = min(users, DEFAULT_CHUNK_USERS) if chunks else 0
    estimate = 0 if done else CHUNK_START_MS + per_chunk * PER_USER_MS
    return GenerationStarted(job["job_id"], str(job.get("status")), users, int(math.ceil(estimate)))
