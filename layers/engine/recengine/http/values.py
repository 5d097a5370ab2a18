"""Bounds on free-form JSON values, so that whatever the edge accepts DynamoDB can store and every
reader can read: no NaN or Infinity, numbers within DynamoDB's range and precision, non-empty and
bounded keys, bounded nesting and size, text that is valid UTF-8."""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from pydantic_core import PydanticCustomError

MAX_KEY_CHARS = 128
MAX_DEPTH = 8  # objects and arrays inside a free-form value (DynamoDB allows 32)
MAX_INT_DIGITS = 38  # DynamoDB's precision; boto3 refuses to round a longer integer
MIN_MAGNITUDE, MAX_MAGNITUDE = 1e-130, 9.99e125  # DynamoDB's number range (positive and negative)


def number_problem(value: Any) -> str | None:
    """Why DynamoDB could not store `value` as a number, or None when it can."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) < 10 ** MAX_INT_DIGITS else f"integers have at most {MAX_INT_DIGITS} digits"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN and Infinity are not allowed"
        if value and not MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE:
            return f"numbers must be 0 or between {MIN_MAGNITUDE:g} and {MAX_MAGNITUDE:g} in magnitude"
    return None


def storable_number(value: Any) -> Any:
    """A pydantic after-validator: the number, or a `number_out_of_range` error."""
    problem = number_problem(value)
    if problem:
        raise PydanticCustomError("number_out_of_range", problem)
    return value


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return None


def value_problem(value: Any, path: tuple[str, ...] = (), depth: int = 0) -> tuple[tuple[str, ...], str] | None:
    """The first thing in a JSON value DynamoDB (or a reader) would refuse: (path, reason); None if fine.
    Iterates no deeper than MAX_DEPTH, so a deep value cannot exhaust the stack."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return path, f"nested more than {MAX_DEPTH} deep"
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                return path, "keys must be non-empty strings"
            if len(key) > MAX_KEY_CHARS:
                return path, f"keys have at most {MAX_KEY_CHARS} characters"
            if (problem := _text_problem(key)) is not None:
                return path, problem
            found = value_problem(item, (*path, key), depth + 1)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            return path, f"nested more than {MAX_DEPTH} deep"
        for n, item in enumerate(value):
            found = value_problem(item, (*path, str(n)), depth + 1)
            if found:
                return found
        return None
    if isinstance(value, str):
        problem = _text_problem(value)
    elif value is None or isinstance(value, (bool, int, float)):
        problem = number_problem(value) if isinstance(value, (int, float)) else None
    else:
        problem = f"unsupported value of type {type(value).__name__}"
    return (path, problem) if problem else None


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


def bounded_json(max_bytes: int) -> Callable[[dict], dict]:
    """An after-validator for a free-form object; its error carries the path inside the object in
    `ctx.path`, which the resolver appends to the field's location."""

    def check(value: dict) -> dict:
        found = value_problem(value)
        if found:
            path, problem = found
            raise PydanticCustomError("invalid_json_value", "{problem}", {"problem": problem, "path": ".".join(path)})
        if json_size(value) > max_bytes:
            raise PydanticCustomError("too_large", "larger than {max_bytes} bytes as JSON", {"max_bytes": max_bytes})
        return value

    return check


def context_values(max_string: int) -> Callable[[dict], dict]:
    """An after-validator for a flat context: strings of at most `max_string` characters, storable numbers."""

    def check(value: dict) -> dict:
        for key, item in value.items():
            too_long = isinstance(item, str) and len(item) > max_string
            problem = f"strings have at most {max_string} characters" if too_long else \
                (value_problem(item) or (None, None))[1]
            if problem:
                raise PydanticCustomError("invalid_context_value", "{problem}", {"problem": problem, "path": key})
        return value

    return check


def flatten_context(max_depth: int, max_keys: int, max_bytes: int) -> Callable[[Any], Any]:
    """A before-validator for a context that may nest objects (`{"location": {"city": "Paris"}}`):
    bounded (objects at most `max_depth` deep, `max_keys` keys in all, `max_bytes` as JSON), then
    flattened to dotted keys (`location.city`), the flat context every reader knows (the context
    model's features, the stored interaction, the exposure). A flat context passes unchanged."""

    def flatten(value: Any) -> Any:
        if not isinstance(value, dict) or not any(isinstance(v, dict) for v in value.values()):
            return value
        found = value_problem(value)
        if found:
            path, problem = found
            raise PydanticCustomError("invalid_context_value", "{problem}", {"problem": problem, "path": ".".join(path)})
        if json_size(value) > max_bytes:
            raise PydanticCustomError("too_large", "larger than {max_bytes} bytes as JSON", {"max_bytes": max_bytes})
        flat: dict[str, Any] = {}
        keys = 0
        stack: list[tuple[tuple[str, ...], dict]] = [((), value)]
        while stack:
            path, node = stack.pop(0)
            if len(path) >= max_depth:
                raise PydanticCustomError("invalid_context_value", "objects nest at most {depth} deep",
                                          {"depth": max_depth, "path": ".".join(path)})
            for key, item in node.items():
                keys += 1
                if keys > max_keys:
                    raise PydanticCustomError("too_long", "at most {max_keys} keys, nested ones included",
                                              {"max_keys": max_keys})
                if isinstance(item, dict):
                    stack.append(((*path, key), item))
                    continue
                name = ".".join((*path, key))
                if name in flat:
                    raise PydanticCustomError("invalid_context_value", "{name} is given twice (nested and dotted)",
                                              {"name": name, "path": name})
                flat[name] = item
        return flat

    return flatten


def wants_text(accept: str | None) -> bool:
    """text/plain ranked above application/json in the Accept header (no header, or */*: JSON)."""
    def quality(media: str) -> float:
        best = 0.0
        for part in (accept or "").split(","):
            kind, *params = [p.strip() for p in part.split(";")]
            if kind in (media, media.split("/")[0] + "/*"):
                q = next((float(p[2:]) for p in params if p.startswith("q=") and p[2:].replace(".", "", 1).isdigit()), 1.0)
                best = max(best, q)
        return best
    return quality("text/plain") > quality("application/json")

