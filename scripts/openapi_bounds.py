"""What pydantic's JSON Schema leaves out of the request models, put back so that the document says
exactly what the server accepts (schemathesis' positive_data_acceptance checks it):

* a dict whose keys have a pattern comes out as `patternProperties`, which lets any other key
  through: the pattern goes to `propertyNames` and the values to `additionalProperties`;
* a bound on a dict's size comes out as `maxLength`, a string keyword: it becomes `maxProperties`;
* a number the tables must store (recengine.http.values: finite, integers of at most 38 digits,
  magnitudes 1e-130..9.99e125) is documented as 0 or a magnitude in [1e-130, 1e38), a subset of
  what the server takes, so anything the document allows is accepted;
* a free-form object (item metadata, request attributes, a creative's content) holds such numbers at
  any depth.

Only schemas reachable from a request (body or parameter) are touched: responses are as pydantic
says."""

from __future__ import annotations

from typing import Any

from recengine.http.values import MAX_INT_DIGITS, MIN_MAGNITUDE

REF = "#/components/schemas/"
JSON_VALUE = "StorableJsonValue"
_LIMIT = float(10 ** MAX_INT_DIGITS)  # integers below it have at most 38 digits; floats below it are in range
STORABLE_NUMBER = {"anyOf": [{"const": 0}, {"minimum": MIN_MAGNITUDE, "exclusiveMaximum": _LIMIT},
                             {"exclusiveMinimum": -_LIMIT, "maximum": -MIN_MAGNITUDE}]}


def json_value_schema() -> dict[str, Any]:
    ref = {"$ref": REF + JSON_VALUE}
    return {"description": "Any JSON value DynamoDB can store: numbers 0 or of a magnitude between 1e-130 "
                           "and 1e38 (the server also takes larger floats, up to 9.99e125), keys of 1 to 128 "
                           "characters.",
            "anyOf": [{"type": "string"}, {"type": "boolean"}, {"type": "null"},
                      {"type": "number", **STORABLE_NUMBER},
                      {"type": "array", "items": ref},
                      {"type": "object", "propertyNames": {"minLength": 1, "maxLength": 128},
                       "additionalProperties": ref}]}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(REF)} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _request_schemas(document: dict) -> set[str]:
    schemas = document["components"]["schemas"]
    roots = set()
    for item in document["paths"].values():
        for operation in item.values():
            roots |= _refs(operation.get("requestBody", {})) | _refs(operation.get("parameters", []))
    seen: set[str] = set()
    while roots:
        name = roots.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        roots |= _refs(schemas[name])
    return seen


def _bound(node: Any) -> None:
    if isinstance(node, list):
        for v in node:
            _bound(v)
        return
    if not isinstance(node, dict):
        return
    for v in list(node.values()):
        _bound(v)
    if node.get("type") == "object":
        patterns = node.pop("patternProperties", None)
        if patterns:
            (pattern, values), = patterns.items()
            node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
            node["additionalProperties"] = values
        if "maxLength" in node:
            node["maxProperties"] = node.pop("maxLength")
        # free-form: an object of named keys only, or one whose other keys are declared open (a creative's content)
        if "propertyNames" in node and node.get("additionalProperties", True) in (True, {}) \
                and ("properties" not in node or node.get("additionalProperties") is True):
            node["additionalProperties"] = {"$ref": REF + JSON_VALUE}  # free-form: bounded at any depth
    if node.get("type") in ("number", "integer") and not any(
            k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "const")):
        node.update(STORABLE_NUMBER)


def bound_requests(document: dict) -> None:
    """Rewrites, in place, the request schemas of `document` (see the module docstring)."""
    schemas = document["components"]["schemas"]
    for name in sorted(_request_schemas(document)):
        _bound(schemas[name])
    for item in document["paths"].values():
        for operation in item.values():
            _bound(operation.get("parameters", []))
            _bound(operation.get("requestBody", {}))
    schemas[JSON_VALUE] = json_value_schema()
