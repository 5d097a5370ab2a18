"""Nothing accepted is lost, nothing is counted twice. Given a shop, when one AWS call of
POST /v1/interactions or POST /v1/items fails (after the SDK's retries) and the client then sends
the same body again, as a 503 with Retry-After tells it to, then every event is in the history
exactly once, the new user and the new item are counted once, and the two calls are billed once."""

from __future__ import annotations

import pytest

from recengine.billing import periods
from recengine.runtime import runtime
from tests.faults.matrix import EXPECTED, KEY, METER, Call
from tests.faults.routes import ROUTES

KINDS = ("internal", "timeout")
NEEDS_INGEST = "needs the ingest branch (events/catalogue: nothing marked or counted unless its write landed)"


def cases(route: str, xfails: dict, partial: tuple = ()) -> list:
    """(call, kind, nth) for every call but the key's, each fault kind on every call of it (nth
    None), plus `partial`: only the nth call of an operation made several times fails."""
    out = []
    every = [(call, kind, None) for call in EXPECTED[route] if call != KEY for kind in KINDS]
    for call, kind, nth in every + [(c, "internal", n) for c, n in partial]:
        reason = xfails.get((str(call), kind, nth), xfails.get((str(call), None, nth)))
        marks = [pytest.mark.xfail(strict=True, reason=f"{NEEDS_INGEST}: {reason}")] if reason else []
        name = f"{call}-{kind}" + (f"-call{nth}" if nth else "")
        out.append(pytest.param(call, kind, nth, marks=marks, id=name.replace(" ", "-")))
    return out


INTERACTIONS_XFAIL: dict = {}  # none left: nothing is marked or counted unless its write landed
# the events' transaction (claims, rows, the new user's marker): ONE call when it succeeds (ADR 0002), so
# only the first can fail alone; after that failure each event goes in a transaction of its own
CLAIMS = Call("dynamodb", "TransactWriteItems", "Interactions")
ITEMS_XFAIL: dict = {}


def billed(tenant_id: str) -> int:
    return runtime().usage.period(tenant_id, periods.period_of(periods.clock()))["requests"]


def history(tenant_id: str, user_id: str) -> list[str]:
    return [r["event_id"] for r in runtime().interactions.recent_for_user(tenant_id, user_id, 500)]


@pytest.mark.parametrize(("call", "kind", "nth"), cases("interactions", INTERACTIONS_XFAIL,
                                                        partial=((CLAIMS, 1),)))
def test_interactions_survive_a_failed_call_and_the_clients_retry(shop, faults, call, kind, nth):
    tenant = shop.caller.tenant_id
    method, path, kwargs = ROUTES["interactions"](shop)
    events = kwargs["body"]["interactions"]
    users_before, billed_before = runtime().usage.totals(tenant)["users"], billed(tenant)
    # The meter's count fails, its deferral lands (were both to fail, the log line is the record)
    fault = faults.inject(call.service, call.operation, kind, resource=call.resource,
                          nth=1 if call == METER else nth)
    first = shop.send(method, path, **kwargs)
    faults.clear()
    assert fault.injected >= 1 and first[0] in (201, 503), first
    if first[0] == 503:
        assert first[1]["Retry-After"] == "1"
        retry = shop.send(method, path, **kwargs)  # the client's retry: the same events, a new request
        assert retry[0] == (201 if retry[2]["accepted"] else 200), retry  # 200: every event a duplicate
        # what a 503 did not store is accepted on the retry, not dropped or reported as a duplicate; what
        # it did store (its `stored_ids`, when it names them) is the retry's duplicates, exactly
        stored = first[2].get("stored_ids")
        ids = [e["event_id"] for e in events]
        if stored is not None:
            assert sorted(retry[2]["accepted_event_ids"]) == sorted(set(ids) - set(stored)), (first[2], retry[2])
            assert retry[2]["duplicates"] == len(stored), (first[2], retry[2])
        assert retry[2]["accepted"] + retry[2]["duplicates"] == len(events), retry[2]
    for event in events:
        assert history(tenant, event["user_id"]).count(event["event_id"]) == 1, f"{event['event_id']} lost or doubled"
    assert runtime().usage.totals(tenant)["users"] == users_before + 1, "the new user counted once"
    assert billed(tenant) == billed_before + 1, "a failed call is not billed; the answered one is, once"


@pytest.mark.parametrize(("call", "kind", "nth"), cases("items.upsert", ITEMS_XFAIL))
def test_items_survive_a_failed_call_and_the_clients_retry(shop, faults, call, kind, nth):
    tenant = shop.caller.tenant_id
    method, path, kwargs = ROUTES["items.upsert"](shop)
    item_id = kwargs["body"]["items"][0]["id"]
    items_before = runtime().usage.totals(tenant)["items"]
    fault = faults.inject(call.service, call.operation, kind, resource=call.resource, nth=nth)
    first = shop.send(method, path, **kwargs)
    faults.clear()
    assert fault.injected >= 1 and first[0] == 503 and first[1]["Retry-After"] == "1", first
    retry = shop.send(method, path, **kwargs)
    assert retry[0] == 200 and retry[2]["created"] == 1, retry
    assert runtime().items.get(tenant, item_id) is not None
    assert runtime().usage.totals(tenant)["items"] == items_before + 1, "the new item counted once"
