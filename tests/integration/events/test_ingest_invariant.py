"""The ingest invariant: after a random sequence of batches (valid, invalid, duplicates, conflicts,
retries of what was not stored) under DynamoDB faults injected on the real client path (batch writes
left partly unprocessed or throttled, event claims throttled), the stored history is exactly the
events the answers reported as accepted: each once, with the body that was accepted, and the user
count is the number of distinct users with events in the history."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from recengine.aws import dynamo
from recengine.runtime import runtime
from tests.integration.dynamo_faults import DynamoFaults

ROUNDS = 40


def _claims_only(operation: str, body: dict) -> bool:
    """Faults on the event-id claims and their completion, not on seen-user markers (a marker that
    cannot be written leaves its user counted at the user's next event, which this test cannot
    promise to send)."""
    key = body.get("Item") or body.get("Key") or {}
    return "#event#" in key.get("pk", {}).get("S", "")


class Client:
    """A client that trusts only the answers: what they report accepted, and what to send again."""

    def __init__(self, call, caller):
        self.call, self.caller = call, caller
        self.accepted: Counter[str] = Counter()
        self.bodies: dict[str, dict] = {}
        self.resend: list[dict] = []
        self.statuses: Counter[int] = Counter()

    def send(self, events: list[dict]) -> None:
        status, _, body = self.call("POST", "/v1/interactions", caller=self.caller, body={"interactions": events})
        self.statuses[status] += 1
        assert status in (200, 201, 207, 409, 422, 503), body
        if status in (409, 422):
            assert not body.get("not_stored")
            return
        if status == 503:
            new = body["stored_ids"]
            self.resend += [events[n["index"]] for n in body["not_stored"]]
        else:
            new = body["accepted_event_ids"]
        rejected = {r["index"] for r in body.get("rejected") or ()}
        by_id = {}
        for n, event in enumerate(events):
            if n not in rejected and event.get("event_id"):
                by_id.setdefault(event["event_id"], event)
        generated = iter(i for i in new if i not in by_id)
        for event_id in new:
            self.accepted[event_id] += 1
            self.bodies[event_id] = by_id.get(event_id) or {"generated": next(generated, None)}


def _event(rng: random.Random, n: int) -> dict:
    event = {"user_id": f"u{rng.randrange(25)}", "item_id": f"i{rng.randrange(30)}",
             "type": rng.choice(["view", "click", "like", "purchase"]),
             "context": {"device": rng.choice(["web", "app"])}}
    if rng.random() < 0.8:
        event["event_id"] = f"ev-{n}"
    if rng.random() < 0.3:
        event["session_id"] = f"s{rng.randrange(10)}"
    if rng.random() < 0.3:
        event["timestamp"] = 1.7e9 + n
    return event


@pytest.mark.parametrize("seed", [7, 8])
def test_history_is_exactly_what_was_reported_accepted(aws, call, monkeypatch, seed):
    monkeypatch.setattr(dynamo, "_sleep", lambda s: None)
    rng = random.Random(seed)
    caller = aws.tenant()
    client = Client(call, caller)
    sent: list[dict] = []
    faults = DynamoFaults(seed=seed, unprocessed=0.3, throttle_batch=0.15, throttle_put=0.15, put_filter=_claims_only)
    try:
        for round_ in range(ROUNDS):
            batch: list[dict] = []
            for _ in range(rng.randint(1, 12)):
                kind = rng.random()
                if kind < 0.55 or not sent:
                    event = _event(rng, len(sent))
                    sent.append(event)
                elif kind < 0.75:
                    event = dict(rng.choice(sent))  # a repeat: a duplicate, or the retry of one not stored
                elif kind < 0.85:
                    event = {**rng.choice(sent), "item_id": "conflicting-item"}  # a reused id: a conflict
                else:
                    event = {**_event(rng, len(sent)), "context": {"x": 10 ** 60}}  # invalid: rejected
                batch.append(event)
            if client.resend and rng.random() < 0.5:
                batch, client.resend = batch + client.resend[:10], client.resend[10:]
            client.send(batch[:500])
    finally:
        faults.close()
    while client.resend:  # the faults are over: what was not stored is sent again until it is
        pending, client.resend = client.resend[:100], client.resend[100:]
        client.send(pending)

    history = list(runtime().interactions.tenant_events(caller.tenant_id))  # what training reads
    for row in history:
        row["event_id"] = row["sk"].split("#", 1)[1]  # the index keeps the event id in the sort key
    stored = Counter(row["event_id"] for row in history)
    assert faults.injected["unprocessed"] and faults.injected["throttled_batch"] and faults.injected["throttled_put"]
    assert client.statuses[503] and client.statuses[207]
    assert max(client.accepted.values()) == 1, "an event was reported accepted twice"
    assert stored == client.accepted
    for row in history:  # each event holds the body that was accepted, never a conflicting one
        sent_body = client.bodies[row["event_id"]]
        if "generated" not in sent_body:
            assert (row["user_id"], row["item_id"], row["type"]) == \
                (sent_body["user_id"], sent_body["item_id"], sent_body["type"])
    users = {row["user_id"] for row in history}
    assert runtime().usage.totals(caller.tenant_id)["users"] == len(users)
