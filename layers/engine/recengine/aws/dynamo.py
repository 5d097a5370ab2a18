"""DynamoDB plumbing every store shares: item (de)serialisation, a table with paged reads and
retried batch writes, conditional puts, and ClientError turned into StoreError."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StoreError
from .clients import LazyClient

# DynamoDB's number limits, as boto3's serialiser enforces them: 38 significant digits, and a number
# that would be rounded or overflow is refused rather than stored changed.
_NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


_EXACT_INT = 10 ** 38  # an int below this in magnitude is written as its digits (no rounding to refuse)


def _number(value: int | float | Decimal) -> str:
    if type(value) is int and -_EXACT_INT < value < _EXACT_INT:
        return str(value)  # what the context would give: an exact integer, no exponent
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError("Infinity and NaN not supported")
        text = repr(float(value))  # its shortest decimal; numpy floats too
        if "e" not in text:
            return text  # plain digits (1e-4 <= |value| < 1e16): what the context would write back
        return str(_NUMBERS.create_decimal(text))
    return str(_NUMBERS.create_decimal(value))


def _attribute(value: Any) -> dict:
    """One attribute value in DynamoDB's wire format: what boto3's TypeSerializer writes, with floats
    taken as their shortest decimal. Written here because it runs for every row a request writes
    (boto3's serialiser and the float-to-Decimal walk before it cost a recommend ~0.3 ms), and so
    that serving never imports boto3 (botocore is enough)."""
    kind = type(value)
    if kind is str:  # the common cases first, by exact type (subclasses take the general path below)
        return {"S": value}
    if kind is float or kind is int:
        return {"N": _number(value)}
    if value is None:
        return {"NULL": True}
    if value is True or value is False:
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": _number(value)}
    if isinstance(value, dict):
        return {"M": {k: _attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_attribute(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, (set, frozenset)) and value:
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": [bytes(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value)!r} for value {value!r}")


def _value(attribute: dict) -> Any:
    """A Python value from DynamoDB's wire format: numbers as int when integral, else float; sets as lists."""
    (kind, value), = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: _value(v) for k, v in value.items()}
    if kind == "L":
        return [_value(v) for v in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "SS":
        return list(value)
    if kind == "NS":
        return [_value({"N": v}) for v in value]
    if kind in ("B", "BS"):
        return bytes(value) if kind == "B" else [bytes(v) for v in value]
    raise TypeError(f"DynamoDB type {kind!r} is not known")


def serialize(item: dict) -> dict:
    return {k: _attribute(v) for k, v in item.items() if v is not None}


def deserialize(item: dict) -> dict:
    return {k: _value(v) for k, v in item.items()}


# What a failed call raises once the SDK has given up: an AWS error, or no answer at all (a read or
# connect timeout, a dropped connection: botocore's own exceptions, which are not ClientErrors).
CallFailed = (ClientError, BotoCoreError)


def readable_json(value: Any) -> bool:
    """Whether a value read from a table is one JSON can carry (objects with text keys, arrays, text,
    finite numbers, booleans, null): a row holding anything else (bytes, NaN) is unreadable."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif not (item is None or isinstance(item, (str, int, bool))):
            return False
    return True


def store_error(action: str, exc: ClientError | BotoCoreError) -> StoreError:
    """The StoreError for a failed call (the SDK has already retried it)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
    else:
        code = type(exc).__name__
    return StoreError(f"{action} failed ({code})")


def conditional_failure(exc: ClientError | BotoCoreError) -> bool:
    """A condition refused the write: nothing was written (not a fault)."""
    return isinstance(exc, ClientError) and _code(exc) == "ConditionalCheckFailedException"


def _code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")


class Table:
    """One DynamoDB table; the client is built on first use unless one is injected."""

    db = LazyClient("dynamodb")

    def __init__(self, name: str, dynamodb: Any = None):
        self.name = name
        self._db = dynamodb

    def load(self, item: dict) -> dict | None:
        """A stored item as a row; one that cannot be deserialised goes to `unreadable`."""
        try:
            return deserialize(item)
        except (ArithmeticError, TypeError, ValueError, KeyError) as exc:
            return self.unreadable(item, exc)

    def unreadable(self, item: dict, exc: Exception) -> dict | None:
        """What to do with a row that cannot be read: raise (the default), or log it and return None
        to skip it (the stores whose rows come from callers: catalogue, events)."""
        raise exc

    def get_row(self, key: dict, consistent: bool = False) -> dict | None:
        try:
            out = self.db.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=consistent)
        except CallFailed as exc:
            raise store_error("get_item", exc) from exc
        return self.load(out["Item"]) if "Item" in out else None

    def put_row(self, item: dict, **kwargs: Any) -> None:
        try:
            self.db.put_item(TableName=self.name, Item=serialize(item), **kwargs)
        except CallFailed as exc:
            raise store_error("put_item", exc) from exc

    def query_rows(self, **kwargs: Any) -> Iterator[dict]:
        """Yields every matching item across pages."""
        kwargs["TableName"] = self.name
        while True:
            try:
                out = self.db.query(**kwargs)
            except CallFailed as exc:
                raise store_error("query", exc) from exc
            for item in out.get("Items", []):
                row = self.load(item)
                if row is not None:
                    yield row
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def scan_rows(self) -> Iterator[dict]:
        """Every item of the table across pages (small tables only)."""
        kwargs: dict[str, Any] = {"TableName": self.name}
        while True:
            try:
                out = self.db.scan(**kwargs)
            except CallFailed as exc:
                raise store_error("scan", exc) from exc
            yield from (row for row in map(self.load, out.get("Items", [])) if row is not None)
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def batch_get_rows(self, keys: list[dict], consistent: bool = False) -> list[dict]:
        found: list[dict] = []
        for start in range(0, len(keys), 100):
            request = {self.name: {"Keys": [serialize(k) for k in keys[start:start + 100]],
                                   "ConsistentRead": consistent}}
            attempt = 0
            while request:
                try:
                    out = self.db.batch_get_item(RequestItems=request)
                except CallFailed as exc:
                    raise store_error("batch_get_item", exc) from exc
                rows = map(self.load, out.get("Responses", {}).get(self.name, []))
                found.extend(row for row in rows if row is not None)
                request = out.get("UnprocessedKeys") or {}
                attempt += 1
                if request:
                    if attempt >= MAX_BATCH_ATTEMPTS:
                        raise StoreError("batch_get_item left keys unprocessed")
                    _sleep(backoff_s(attempt))
        return found

    def update_fields(self, key: dict, fields: dict, exists: str) -> bool:
        """Sets fields on the row at `key` if it exists (attribute `exists` present); a None value
        removes the field. False when there is no such row (nothing written)."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        sets = [f"{n} = :v{i}" for i, (n, k) in enumerate(names.items()) if fields[k] is not None]
        removed = [n for n, k in names.items() if fields[k] is None]
        expression = " ".join(part for part in (f"SET {', '.join(sets)}" if sets else "",
                                                 f"REMOVE {', '.join(removed)}" if removed else "") if part)
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names}
        values = {f":v{i}": fields[k] for i, k in enumerate(names.values()) if fields[k] is not None}
        if values:
            kwargs["ExpressionAttributeValues"] = serialize(values)
        try:
            self.db.update_item(TableName=self.name, Key=serialize(key), UpdateExpression=expression,
                                ConditionExpression=f"attribute_exists({exists})", **kwargs)
        except CallFailed as exc:
            if conditional_failure(exc):
                return False
            raise store_error("update_item", exc) from exc
        return True

    def transact(self, items: list[dict]) -> list[str] | None:
        """TransactWriteItems: all or nothing. None when it committed, else the cancellation reason
        code of each item in order (`ConditionalCheckFailed` marks the condition that refused it,
        `None` the items that were fine), so the caller can tell which condition failed."""
        try:
            self.db.transact_write_items(TransactItems=items)
        except CallFailed as exc:
            if isinstance(exc, ClientError) and _code(exc) == "TransactionCanceledException":
                return [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise store_error("transact_write_items", exc) from exc
        return None

    def batch_put_rows(self, items: list[dict]) -> None:
        batch_put(self.db, [(self.name, i) for i in items])


class PartialWriteError(StoreError):
    """A batch write left rows unwritten after its retries: `failed` are their positions in the input."""

    def __init__(self, message: str, failed: list[int]):
        super().__init__(message)
        self.failed = failed


# Codes worth retrying here too: the SDK has retried them already, but a batch keeps its other chunks.
_RETRYABLE = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
              "InternalServerError", "ServiceUnavailable"}
MAX_BATCH_ATTEMPTS = 8
_sleep = time.sleep  # tests make the backoff instant


def backoff_s(attempt: int) -> float:
    """Exponential backoff before the next attempt at what DynamoDB left unprocessed."""
    return min(0.05 * 2 ** attempt, 2.0)


def _row_id(table: str, item: dict) -> tuple[str, str]:
    return table, json.dumps(item, sort_keys=True)


def batch_put(db: Any, rows: list[tuple[str, dict]]) -> None:
    """BatchWriteItem across tables, 25 at a time, retrying unprocessed items (and throttled calls) with
    exponential backoff. Rows still unwritten after MAX_BATCH_ATTEMPTS are never dropped silently: the
    other chunks are written, then PartialWriteError names the positions of the rows that were not."""
    failed: list[int] = []
    for start in range(0, len(rows), 25):
        request: dict[str, list] = {}
        position: dict[tuple[str, str], int] = {}
        for n in range(start, min(start + 25, len(rows))):
            table, item = rows[n]
            serialized = serialize(item)
            request.setdefault(table, []).append({"PutRequest": {"Item": serialized}})
            position[_row_id(table, serialized)] = n
        attempt = 0
        while request:
            attempt += 1
            try:
                request = db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            except CallFailed as exc:  # a timeout is retried too: puts of the same rows are idempotent
                code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else "timeout"
                if code not in _RETRYABLE | {"timeout"} or attempt >= MAX_BATCH_ATTEMPTS:
                    break
            else:
                if request and attempt >= MAX_BATCH_ATTEMPTS:
                    break
            if request:
                _sleep(backoff_s(attempt))
        failed += sorted(position[_row_id(table, w["PutRequest"]["Item"])] for table, writes in request.items()
                         for w in writes)
    if failed:
        raise PartialWriteError(f"batch_write_item left {len(failed)} rows unwritten", failed)


_put_pool: ThreadPoolExecutor | None = None


def put_if_absent(db: Any, table: str, rows: list[dict], key_attr: str) -> list[bool | StoreError]:
    """One conditional put per row (in parallel): True if written, False if a row with that key
    already existed (nothing written), or the StoreError of a failed call."""
    global _put_pool
    if _put_pool is None:
        _put_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="put-if-absent")

    def put(row: dict) -> bool | StoreError:
        try:
            db.put_item(TableName=table, Item=serialize(row), ConditionExpression=f"attribute_not_exists({key_attr})")
            return True
        except CallFailed as exc:
            if conditional_failure(exc):
                return False
            return store_error("put_item", exc)

    return list(_put_pool.map(put, rows)) if len(rows) > 1 else [put(r) for r in rows]


def batch_delete(db: Any, rows: list[tuple[str, dict]]) -> int:
    """BatchWriteItem deletes across tables, 25 keys at a time, retrying unprocessed keys with backoff;
    deleting a key that is not there is not an error (erasure runs again after a partial attempt).
    Returns how many keys were sent."""
    for start in range(0, len(rows), 25):
        request: dict[str, list] = {}
        for table, key in rows[start:start + 25]:
            request.setdefault(table, []).append({"DeleteRequest": {"Key": serialize(key)}})
        attempt = 0
        while request:
            try:
                out = db.batch_write_item(RequestItems=request)
            except ClientError as exc:
                raise store_error("batch_write_item", exc) from exc
            request = out.get("UnprocessedItems") or {}
            attempt += 1
            if request:
                if attempt > 8:
                    raise StoreError("batch_write_item left deletes unprocessed")
                time.sleep(min(0.05 * 2 ** attempt, 2.0))
    return len(rows)
