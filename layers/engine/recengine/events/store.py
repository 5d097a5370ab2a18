"""Interaction events: the user history (interactions table), the session (sessions table) and
the event-id claims that make ingestion idempotent; read back by user, session and tenant."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

from botocore.exceptions import ClientError

from ..aws.dynamo import PartialWriteError, Table, batch_delete, batch_put, serialize
from ..errors import StoreError
from ..observability import count, logger
from .claims import CHECK_FAILED, LEGACY, PENDING, Claim, ClaimStore
from .model import ACCEPTED, CONFLICT, DUPLICATE, NOT_STORED, event_row_problem, fingerprint

def event_sort_key(ts: float, event_id: str) -> str:
    """Sorts by time (zero-padded milliseconds), unique by event id."""
    return f"{int(ts * 1000):015d}#{event_id}"


class EventTable(Table):
    """The interactions or sessions table: an event row no reader could use (events.model.
    event_row_problem) is skipped and logged, by its tenant and sort key (never its user id)."""

    def unreadable(self, item: dict, exc: Exception) -> None:
        self.skipped(item.get("pk", {}).get("S", ""), item.get("sk", {}).get("S"), type(exc).__name__)

    def skipped(self, pk: str, sk: Any, problem: str) -> None:
        count("UnreadableRow", table="interactions")
        logger.warning("unreadable event row skipped", extra={"tenant_id": str(pk).split("#", 1)[0],
                                                              "sk": str(sk), "problem": problem})

    def events(self, **kwargs: Any) -> Iterator[dict]:
        """query_rows, skipping the event rows no reader could use (user rows must name their user)."""
        for row in self.query_rows(**kwargs):
            problem = event_row_problem(row, user_row="tenant_id" in row, full="IndexName" not in kwargs)
            if problem is None:
                yield row
            else:
                self.skipped(row.get("pk") or row.get("tenant_id", ""), row.get("sk"), problem)


class InteractionStore:
    """Appends events to the user history (interactions table) and the session (sessions table).

    One round trip writes a request's events (docs/adr/0002-ingest-round-trips.md): an event with a
    caller-supplied event_id goes in a TransactWriteItems with its claim (events.claims), all or
    nothing, up to PACK events per transaction, every transaction (and the batch writes of id-less
    events) issued concurrently. A refused claim cancels its transaction and reports the claim found:
    the same body is a duplicate, another body a conflict; the other events of that transaction go
    again. A claim left `pending` by the earlier two-step writes gets its rows written and completed,
    so nothing is lost and nothing counted twice. An event whose rows could not be written is
    reported `not_stored`; a retry then finds its id unclaimed (the transaction wrote nothing)."""

    SESSION_TTL_S = 7 * 86400
    PACK = 25  # events per transaction: at most 4 items each (claim, 2 rows, a marker), 100 per transaction
    ATTEMPTS = 3  # transactions sent again when another event's refused claim cancelled them
    _pool: ThreadPoolExecutor | None = None
    _batch_pool: ThreadPoolExecutor | None = None

    def __init__(self, interactions_table: str, sessions_table: str, dynamodb: Any = None):
        self.interactions = EventTable(interactions_table, dynamodb)
        self.sessions = EventTable(sessions_table, dynamodb)
        self.claims = ClaimStore(interactions_table, dynamodb)

    @property
    def db(self) -> Any:
        return self.interactions.db

    @classmethod
    def _executor(cls) -> ThreadPoolExecutor:
        """Transactions and claim completions: 500 events are 20 transactions, all in flight together."""
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(max_workers=24, thread_name_prefix="claim")
        return cls._pool

    @classmethod
    def _batches(cls) -> ThreadPoolExecutor:
        """Batch writes of id-less events (a pool of their own: they run while transactions wait)."""
        if cls._batch_pool is None:
            cls._batch_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="batch")
        return cls._batch_pool

    def _rows(self, tenant_id: str, event: dict) -> list[tuple[str, dict]]:
        sk = event_sort_key(event["timestamp"], event["event_id"])
        body = {"item_id": event["item_id"], "type": event["type"], "weight": event["weight"],
                "ts": event["timestamp"], "event_id": event["event_id"], "request_id": event.get("request_id"),
                "context": event.get("context") or None, "user_id": event.get("user_id"),
                "session_id": event.get("session_id")}
        if event.get("expires_at"):  # the tenant's interaction TTL (tenancy.model.Tenant.interaction_ttl_days)
            body["expires_at"] = event["expires_at"]
        rows = []
        if event.get("user_id"):
            # tenant_id puts user rows (only) into the by_tenant index that training reads.
            rows.append((self.interactions.name, {**body, "pk": f"{tenant_id}#user#{event['user_id']}", "sk": sk,
                                                  "tenant_id": tenant_id}))
        if event.get("session_id"):
            rows.append((self.sessions.name, {**body, "pk": f"{tenant_id}#session#{event['session_id']}", "sk": sk,
                                              "expires_at": int(event["timestamp"]) + self.SESSION_TTL_S}))
        return rows

    def _mark(self, tenant_id: str, event_id: str) -> bool | StoreError:
        try:
            return self.claims.mark_stored(tenant_id, event_id)
        except StoreError as exc:
            return exc

    def append(self, tenant_id: str, events: list[dict]) -> list[str]:
        """Writes events; returns what became of each, in order: accepted, duplicate, conflict or not_stored."""
        return self.append_with(tenant_id, events, {})[0]

    def append_with(self, tenant_id: str, events: list[dict], firsts: dict[str, dict],
                    alongside: Callable[[], Any] | None = None) -> tuple[list[str], set[str]]:
        """Writes events; returns what became of each, in order (accepted, duplicate, conflict or
        not_stored), and the users whose `firsts` item was written. `alongside` runs once the first
        transactions are in flight (the caller's other write of that round trip).

        `firsts`: per user id, a conditional transaction item (a seen-user marker) written in the same
        transaction as that user's first event, so that it lands only with an event of the user; a
        refused one (another request wrote it meanwhile) is dropped and the event goes again without
        it. Events with `dedupe` set carry a caller event_id (and a `fingerprint`) and are claimed;
        the others have fresh generated ids and need no claim. An id repeated within the batch is
        written once: a repeat with the same body is a duplicate, with another body a conflict."""
        outcomes: list[str] = [""] * len(events)
        first: dict[str, int] = {}
        for n, event in enumerate(events):
            if event.get("dedupe"):
                first.setdefault(event["event_id"], n)
        heads, units, plain, extras = set(first.values()), [], {}, {}
        for n, event in enumerate(events):
            user = event.get("user_id")
            if user in firsts and user not in extras.values() and (n in heads or not event.get("dedupe")):
                extras[n] = user
            if n in heads or n in extras:
                units.append(n)
            elif not event.get("dedupe"):
                plain[n] = event
        written, refused, failed, marked = self._transact(tenant_id, events, units,
                                                          {n: firsts[u] for n, u in extras.items()}, plain,
                                                          alongside)
        marked_users = {extras[n] for n in marked}
        writes: dict[int, dict] = {}  # refused claims still to complete: position -> the event whose rows to write
        legacy: set[int] = set()
        for n in units:
            claim = refused.get(n)
            if n in written:
                outcomes[n] = ACCEPTED
            elif n in failed or n not in refused:
                outcomes[n] = NOT_STORED  # nothing of it was written: its retry finds the id unclaimed
            elif claim is None:
                outcomes[n] = NOT_STORED  # the refusal did not say what it found: the retry will
            elif claim.state == PENDING and claim.fingerprint == events[n]["fingerprint"]:
                writes[n] = claim.event  # claimed by the earlier two-step writes: complete its rows
            elif not _same_event(claim, events[n]):
                outcomes[n] = CONFLICT
            elif claim.state == LEGACY:
                writes[n], legacy = claim.event, legacy | {n}  # claimed before claims had a state
            else:
                outcomes[n] = DUPLICATE
        for n in plain:
            outcomes[n] = NOT_STORED if n in failed else ACCEPTED
        if writes:
            self._complete(tenant_id, events, writes, legacy, outcomes)
        # Repeats within the batch: the same body follows its first occurrence; another body is settled
        # against the claim in a further pass (the claim may hold that body, not the first one's).
        others = []
        for n, event in enumerate(events):
            if not outcomes[n]:
                head = first[event["event_id"]]
                if events[head]["fingerprint"] == event["fingerprint"]:
                    outcomes[n] = DUPLICATE if outcomes[head] == ACCEPTED else outcomes[head]
                elif outcomes[head] == NOT_STORED:
                    outcomes[n] = CONFLICT  # the batch's first occurrence holds the id: its retry stores it
                else:
                    others.append(n)
        for n, outcome in zip(others, self.append(tenant_id, [events[n] for n in others]) if others else ()):
            outcomes[n] = outcome
        return outcomes, marked_users

    def _transact(self, tenant_id: str, events: list[dict], units: list[int], extras: dict[int, dict],
                  plain: dict[int, dict], alongside: Callable[[], Any] | None = None
                  ) -> tuple[set[int], dict[int, Claim | None], set[int], set[int]]:
        """The one round trip: every transaction and the id-less events' batch writes in flight together.
        Returns the positions written, those whose claim was refused (with the claim found), those
        that failed, and those whose extra item was written."""
        written: set[int] = set()
        refused: dict[int, Claim | None] = {}
        marked: set[int] = set()
        items = {n: self._items(tenant_id, events[n]) for n in units}
        pending = list(units)
        failed: set[int] = set()
        alone: set[int] = set()  # events of a pack that failed as a whole: each goes in a transaction of its own
        for attempt in range(self.ATTEMPTS):
            packed = [n for n in pending if n not in alone]
            packs = [[n] for n in pending if n in alone] + [packed[i:i + self.PACK]
                                                             for i in range(0, len(packed), self.PACK)]
            futures = [self._executor().submit(self._commit, [items[n] + ([extras[n]] if n in extras else [])
                                                               for n in pack]) for pack in packs]
            if attempt == 0 and alongside is not None:
                alongside()
            if attempt == 0 and plain:
                failed |= self._write(tenant_id, plain)
            pending = []
            for pack, future in zip(packs, futures):
                answer = future.result()
                if answer is None:
                    written.update(pack)
                    marked.update(n for n in pack if n in extras)
                elif isinstance(answer, StoreError) or not any((r or {}).get("Code") == CHECK_FAILED
                                                               for unit in answer for r in unit):
                    # throttled, timed out, or cancelled for another reason: nothing of it was written. One
                    # event may be the cause (a hot partition): the others go again, each on its own.
                    if len(pack) > 1 and attempt < self.ATTEMPTS - 1:
                        alone.update(pack)
                        pending.extend(pack)
                    else:
                        failed.update(pack)
                else:
                    self._settle(events, pack, answer, items, extras, refused, pending)
        return written, refused, failed | set(pending), marked

    def _items(self, tenant_id: str, event: dict) -> list[dict]:
        rows = [{"Put": {"TableName": table, "Item": serialize(row)}} for table, row in self._rows(tenant_id, event)]
        if not event.get("dedupe"):
            return rows
        stored = {k: v for k, v in event.items() if k not in ("dedupe", "fingerprint")}
        return [self.claims.claim_item(tenant_id, stored, event["fingerprint"])] + rows

    def _commit(self, units: list[list[dict]]) -> list[list[dict]] | None | StoreError:
        """One transaction of whole events: None when committed, else the reasons split per event."""
        try:
            reasons = self.claims.commit([item for unit in units for item in unit])
        except StoreError as exc:
            return exc
        if reasons is None:
            return None
        out, at = [], 0
        for unit in units:
            out.append(reasons[at:at + len(unit)])
            at += len(unit)
        return out  # type: ignore[return-value]

    @staticmethod
    def _settle(events: list[dict], pack: list[int], answer: list, items: dict[int, list[dict]],
                extras: dict[int, dict], refused: dict[int, Claim | None], pending: list[int]) -> None:
        """A cancelled transaction: an event whose claim was refused is settled by the claim found; a
        refused extra is dropped; the others go again."""
        for n, reasons in zip(pack, answer):
            codes = [(r or {}).get("Code") for r in reasons]
            if events[n].get("dedupe") and codes[0] == CHECK_FAILED:
                refused[n] = ClaimStore.found((reasons[0] or {}).get("Item"))
                continue
            if n in extras and codes[-1] == CHECK_FAILED:
                del extras[n]  # the marker is there already: another request counted the user
            pending.append(n)

    def _complete(self, tenant_id: str, events: list[dict], writes: dict[int, dict], legacy: set[int],
                  outcomes: list[str]) -> None:
        """Claims found pending (or legacy): write their rows, then move pending ones to stored."""
        failed = self._write(tenant_id, writes)
        to_mark = [n for n in writes if n not in failed and n not in legacy]
        marked = dict(zip(to_mark, self._executor().map(lambda n: self._mark(tenant_id, events[n]["event_id"]),
                                                        to_mark)))
        for n in writes:
            if n in failed or isinstance(marked.get(n), StoreError):
                outcomes[n] = NOT_STORED  # a pending claim stays: the retry writes its rows and completes it
            elif n in legacy or marked.get(n) is False:
                outcomes[n] = DUPLICATE
            else:
                outcomes[n] = ACCEPTED

    def _write(self, tenant_id: str, writes: dict[int, dict]) -> set[int]:
        """Batch-writes the events' rows (25-row chunks, concurrently); returns the positions whose rows
        did not all land. A generated-id event half written (its session row landed, not its user
        row) is taken back: its retry will carry a new id."""
        rows, owner = [], []
        for n, event in writes.items():
            for row in self._rows(tenant_id, event):
                rows.append(row)
                owner.append(n)
        chunks = [rows[i:i + 25] for i in range(0, len(rows), 25)]

        def put(chunk: list[tuple[str, dict]]) -> list[int]:
            try:
                batch_put(self.db, chunk)
            except PartialWriteError as exc:
                return exc.failed
            return []

        lost = {25 * c + i for c, failed in enumerate(self._batches().map(put, chunks)) for i in failed}
        if not lost:
            return set()
        failed = {owner[i] for i in lost}
        landed = [rows[i] for i in range(len(rows))
                  if owner[i] in failed and i not in lost and not writes[owner[i]].get("dedupe")]
        for table, row in landed:
            try:
                self.db.delete_item(TableName=table, Key=serialize({"pk": row["pk"], "sk": row["sk"]}))
            except ClientError:
                logger.error("a half-written event could not be taken back",
                             extra={"tenant_id": tenant_id, "event_id": row["event_id"]})
        return failed

    def recent_for_user(self, tenant_id: str, user_id: str, limit: int) -> list[dict]:
        """The user's latest events, newest first."""
        return list(self._limited(self.interactions, f"{tenant_id}#user#{user_id}", limit))

    def recent_for_session(self, tenant_id: str, session_id: str, limit: int) -> list[dict]:
        rows = list(self._limited(self.sessions, f"{tenant_id}#session#{session_id}", limit))
        now = time.time()
        return [r for r in rows if r.get("expires_at", now + 1) > now]  # TTL deletion is lazy

    @staticmethod
    def _limited(table: EventTable, pk: str, limit: int) -> Iterator[dict]:
        rows = table.events(KeyConditionExpression="pk = :p", ExpressionAttributeValues=serialize({":p": pk}),
                            ScanIndexForward=False, Limit=limit)
        for n, row in enumerate(rows):
            if n >= limit:
                return
            yield row

    def tenant_events(self, tenant_id: str, after_sk: str = "") -> Iterator[dict]:
        """All the tenant's user events in time order (GSI by_tenant), optionally after a sort key."""
        cond, values = "tenant_id = :t", {":t": tenant_id}
        if after_sk:
            cond += " AND sk > :s"
            values[":s"] = after_sk
        return self.interactions.events(IndexName="by_tenant", KeyConditionExpression=cond,
                                        ExpressionAttributeValues=serialize(values))

    def recent_tenant_events(self, tenant_id: str, limit: int) -> list[dict]:
        """The tenant's latest `limit` user events, newest first (one bounded GSI query)."""
        return list(self._limited_index(tenant_id, limit))

    def _limited_index(self, tenant_id: str, limit: int) -> Iterator[dict]:
        rows = self.interactions.events(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ScanIndexForward=False, Limit=min(limit, 1000))
        for n, row in enumerate(rows):
            if n >= limit:
                return
            yield row

    def tenant_user_ids(self, tenant_id: str) -> list[str]:
        """Every user with events, sorted (one pass over the by_tenant index; batch planning)."""
        rows = self.interactions.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ProjectionExpression="user_id")
        return sorted({r["user_id"] for r in rows if r.get("user_id")})

    def latest_sort_key(self, tenant_id: str) -> str:
        rows = self.interactions.query_rows(IndexName="by_tenant", KeyConditionExpression="tenant_id = :t",
                                        ExpressionAttributeValues=serialize({":t": tenant_id}),
                                        ScanIndexForward=False, Limit=1)
        row = next(rows, None)
        return row["sk"] if row else ""

    # ------------------------------------------------------------------ erasure (users.erasure)
    def user_history(self, tenant_id: str, user_id: str) -> list[dict]:
        """Every history row of the user, whole (the erasure reads the event ids and sessions they name)."""
        return list(self.interactions.query_rows(KeyConditionExpression="pk = :p", ConsistentRead=True,
                                                 ExpressionAttributeValues=serialize(
                                                     {":p": f"{tenant_id}#user#{user_id}"})))

    def session_events(self, tenant_id: str, session_id: str) -> list[dict]:
        """Every row of the session, expired ones included (TTL deletion is lazy)."""
        return list(self.sessions.query_rows(KeyConditionExpression="pk = :p", ConsistentRead=True,
                                             ExpressionAttributeValues=serialize(
                                                 {":p": f"{tenant_id}#session#{session_id}"})))

    def delete_event_claims(self, tenant_id: str, event_ids: list[str]) -> int:
        """Deletes the event-id claim markers (each holds its whole event, user id included)."""
        keys = [{"pk": f"{tenant_id}#event#{e}", "sk": "-"} for e in dict.fromkeys(event_ids)]
        return batch_delete(self.db, [(self.interactions.name, k) for k in keys])

    def delete_session_rows(self, tenant_id: str, session_id: str, sort_keys: list[str]) -> int:
        pk = f"{tenant_id}#session#{session_id}"
        return batch_delete(self.db, [(self.sessions.name, {"pk": pk, "sk": sk}) for sk in dict.fromkeys(sort_keys)])

    def delete_user_rows(self, tenant_id: str, user_id: str, sort_keys: list[str]) -> int:
        """Deletes history rows of the user (and so their entries in the by_tenant index training reads)."""
        pk = f"{tenant_id}#user#{user_id}"
        return batch_delete(self.db, [(self.interactions.name, {"pk": pk, "sk": sk})
                                      for sk in dict.fromkeys(sort_keys)])

def _same_event(claim: Claim, event: dict) -> bool:
    """Whether a claim stands for this event: by fingerprint, or for a legacy claim (no fingerprint,
    no record of whether the caller set the timestamp) by the caller's fields other than the time."""
    if claim.fingerprint is not None:
        return claim.fingerprint == event["fingerprint"]
    return fingerprint(claim.event, with_timestamp=False) == fingerprint(event, with_timestamp=False)
