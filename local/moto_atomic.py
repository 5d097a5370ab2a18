"""moto's DynamoDB, made to behave like DynamoDB where our tests and benchmarks depend on it.

- `atomic_item_writes()`: DynamoDB applies each write (and each transaction) atomically; moto's
  in-memory backend does not when called from several threads (8 x 250 bare ADDs lose about 1%).
  This serialises moto's writes so that tests check our use of DynamoDB, not moto's thread safety.
  It makes each API call atomic, nothing more: a read-then-write in our code would still race.
- `item_scoped_rollback()`: moto backs up every table a TransactWriteItems names with a deep copy
  before applying it (to roll back a cancelled transaction), so each transaction costs O(table
  size): 5 ms on an empty table, 58 ms with 1,000 rows. The meter writes one transaction per call,
  so a benchmark or the local stack would slow down call after call. This keeps moto's
  all-or-nothing semantics but saves and restores only the items the transaction names.
- `partition_scoped_queries()`: a Query on a table's own key reads one partition in DynamoDB; moto
  collects and sorts every item of the table first (`Table.all_items`), so a Query costs
  O(table size x log): 0.4-0.7 s per recommend's history or change-record read once the demo shop
  holds ten thousand interactions, which made `make run` answer in seconds. This hands moto's query
  only the partition it names; moto's own code still sorts, filters, pages and projects it.
- `fast_item_responses()`: moto 5.2 writes every DynamoDB answer through its generic shape-walking
  serializer, which spends about 1.4 ms per catalogue row: a Query of 120 rows took 165 ms on the
  local stack, on every recommend and similar (the catalogue change record right after the demo's
  training), so `make run` answered in 200 ms and `make load` could not pass a plan's rate. The items
  of Query, Scan, GetItem, BatchGetItem and TransactGetItems are already in DynamoDB's wire format
  (attribute-value maps): this writes them as JSON directly and lets moto's serializer write the
  rest of the answer. An item with a binary attribute (raw bytes) goes through moto's serializer.

All are context managers that undo their patch on exit; none imports the engine."""

from __future__ import annotations

import copy
import json
import threading
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Iterator

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


@contextmanager
def atomic_item_writes() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in _WRITES}

    def locked(original: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)
        return call

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


@contextmanager
def item_scoped_rollback() -> Iterator[None]:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    state = threading.local()

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        if getattr(state, "active", False) and isinstance(obj, Table):
            return obj  # moto's whole-table backup: the items saved below replace it
        return copy.deepcopy(obj, memo)

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            source = op.get("Item") if op_type == "Put" else op.get("Key")
            try:
                hash_value = DynamoType(source[table.hash_key_attr])
                range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
            except (AttributeError, KeyError, TypeError):
                continue  # moto rejects the transaction before writing anything
            saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        state.active = True
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(saved):
                if item is None:
                    table.delete_item(hash_value, range_value)
                elif range_value is not None:
                    table.items[hash_value][range_value] = item
                else:
                    table.items[hash_value] = item
            raise
        finally:
            state.active = False

    previous = models.copy
    models.copy = SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)
    DynamoDBBackend.transact_write_items = transact_write_items
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original
        models.copy = previous


@contextmanager
def partition_scoped_queries() -> Iterator[None]:
    import inspect

    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items
    signature = inspect.signature(original_query)
    state = threading.local()

    def all_items(self: Any) -> Any:
        scope = getattr(state, "scope", None)
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        partition = self.items.get(scope[1])
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        hash_key = arguments.get("hash_key")
        if arguments.get("index_name") or hash_key is None:
            return original_query(self, *args, **kwargs)  # an index: moto's scan of the table
        previous, state.scope = getattr(state, "scope", None), (self, hash_key)
        try:
            return original_query(self, *args, **kwargs)
        finally:
            state.scope = previous

    Table.query, Table.all_items = query, all_items
    try:
        yield
    finally:
        Table.query, Table.all_items = original_query, original_all_items


_ITEM_KEYS = {"Query": "Items", "Scan": "Items", "GetItem": "Item", "BatchGetItem": "Responses",
              "TransactGetItems": "Responses"}


@contextmanager
def fast_item_responses() -> Iterator[None]:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        key = _ITEM_KEYS.get(context.operation_model.name)
        result = self.result
        if key is None or not isinstance(result, dict) or key not in result:
            return original(self, context)
        status, headers, body = ActionResult.execute_result(
            ActionResult({k: v for k, v in result.items() if k != key}), context)
        document = json.loads(body)
        document[key] = result[key]
        try:
            return status, headers, json.dumps(document, separators=(",", ":"))
        except (TypeError, ValueError):  # raw bytes of a binary attribute: moto base64-encodes them
            return original(self, context)

    DynamoResult.execute_result = execute_result
    try:
        yield
    finally:
        DynamoResult.execute_result = original
