"""DynamoDB faults injected on the real client path (botocore's before-call / after-call hooks of the
shared client), not by replacing stores: a BatchWriteItem may write only part of its request and answer
the rest as UnprocessedItems, or be throttled; a PutItem or UpdateItem may be throttled; so may a
TransactWriteItems, which writes all of its items or none (events.claims writes claims and their
history rows in one)."""

from __future__ import annotations

import json
import random
from typing import Any, Callable

from botocore.awsrequest import AWSResponse

from recengine.aws.clients import client

Rule = Callable[[str, dict], bool]


def _throttled() -> tuple[AWSResponse, dict]:
    error = {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}
    return AWSResponse("https://dynamodb.invalid", 400, {}, None), {
        "Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}


class DynamoFaults:
    """Seeded faults on the process's shared DynamoDB client; `close()` removes the hooks.

    - `unprocessed`: probability that a BatchWriteItem writes only a random part of its request and
      returns the rest as UnprocessedItems (what DynamoDB does under load);
    - `throttle_batch`: probability that a BatchWriteItem is refused as a whole (after the SDK's retries);
    - `throttle_put`: probability that a PutItem / UpdateItem accepted by `put_filter` is refused;
    - `stuck(table, item)`: rows that every BatchWriteItem leaves unprocessed, however often retried.

    A TransactWriteItems is all or nothing: it is throttled as a whole (counted as `throttled_batch`)
    with probability `throttle_batch` or whenever it holds a stuck row, and (counted as
    `throttled_put`) with probability `throttle_put` when it holds a Put or Update `put_filter` accepts."""

    def __init__(self, seed: int = 0, unprocessed: float = 0.0, throttle_batch: float = 0.0,
                 throttle_put: float = 0.0, put_filter: Rule | None = None, stuck: Rule | None = None):
        self.rng = random.Random(seed)
        self.stuck = stuck
        self.unprocessed, self.throttle_batch, self.throttle_put = unprocessed, throttle_batch, throttle_put
        self.put_filter = put_filter or (lambda operation, body: True)
        self.injected = {"unprocessed": 0, "throttled_batch": 0, "throttled_put": 0}
        self.db = client("dynamodb")
        self._hooks = [("before-call.dynamodb.BatchWriteItem", self._before_batch),
                       ("after-call.dynamodb.BatchWriteItem", self._after_batch),
                       ("before-call.dynamodb.PutItem", self._before_put),
                       ("before-call.dynamodb.UpdateItem", self._before_put),
                       ("before-call.dynamodb.TransactWriteItems", self._before_transact)]
        for event, hook in self._hooks:
            self.db.meta.events.register(event, hook, unique_id=f"faults-{event}")

    def close(self) -> None:
        for event, _ in self._hooks:
            self.db.meta.events.unregister(event, unique_id=f"faults-{event}")

    def _before_batch(self, params: dict, context: dict, **_: Any) -> tuple | None:
        if self.rng.random() < self.throttle_batch:
            self.injected["throttled_batch"] += 1
            return _throttled()
        partial = self.rng.random() < self.unprocessed
        if not partial and self.stuck is None:
            return None
        body = json.loads(params["body"])
        kept: dict[str, list] = {}
        dropped: dict[str, list] = {}
        for table, writes in body["RequestItems"].items():
            for write in writes:
                drop = (self.stuck is not None and self.stuck(table, write["PutRequest"]["Item"])) or \
                    (partial and self.rng.random() < 0.5)
                (dropped if drop else kept).setdefault(table, []).append(write)
        if not dropped:
            return None
        self.injected["unprocessed"] += sum(len(w) for w in dropped.values())
        if not kept:  # nothing written at all: answer without calling (after-call must not add them twice)
            return AWSResponse("https://dynamodb.invalid", 200, {}, None), {
                "UnprocessedItems": dropped, "ResponseMetadata": {"HTTPStatusCode": 200}}
        context["faults_dropped"] = dropped
        params["body"] = json.dumps({**body, "RequestItems": kept}).encode()
        return None

    def _after_batch(self, parsed: dict, context: dict, **_: Any) -> None:
        dropped = context.pop("faults_dropped", None)
        if dropped and "Error" not in parsed:
            unprocessed = parsed.setdefault("UnprocessedItems", {})
            for table, writes in dropped.items():
                unprocessed.setdefault(table, []).extend(writes)

    def _before_transact(self, params: dict, **_: Any) -> tuple | None:
        items = [next(iter(i.items())) for i in json.loads(params["body"])["TransactItems"]]
        writes = [(kind, body) for kind, body in items  # event-table writes only: the meter's are not rows
                  if kind in ("Put", "Update") and "pk" in (body.get("Item") or body.get("Key") or {})]
        if not writes:
            return None
        if self.rng.random() < self.throttle_batch or (self.stuck is not None and any(
                kind == "Put" and self.stuck(body["TableName"], body["Item"]) for kind, body in writes)):
            self.injected["throttled_batch"] += 1
            return _throttled()
        if self.throttle_put and any(self.put_filter(f"{kind}Item", body) for kind, body in writes) \
                and self.rng.random() < self.throttle_put:
            self.injected["throttled_put"] += 1
            return _throttled()
        return None

    def _before_put(self, params: dict, model: Any, **_: Any) -> tuple | None:
        if self.throttle_put and self.put_filter(model.name, json.loads(params["body"])) \
                and self.rng.random() < self.throttle_put:
            self.injected["throttled_put"] += 1
            return _throttled()
        return None
