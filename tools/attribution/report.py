"""Offline checks and figures over exposure / outcome JSONL logs (analyst side, not the serving path).

`validate` checks each line against its JSON Schema; `report` joins outcomes to exposures on
(tenant_id, request_id) and gives join rate, CTR, list CTR and conversion per (model_id, surface),
and, given assignment.v1 records, per experiment variant with p-values (variants.py).
Definitions, so the figures mean one thing:
- an impression is one distinct item of one exposure; a clicked (purchased) impression is one with at
  least one `click` (`purchase`) outcome on it, so CTR and conversion are at most 1. Only the type
  named counts: a purchase with no click event is a conversion, not a click;
- an outcome on an item the list did not show still joins (it counts for the join rate) but is
  counted as `off_list`, not as a click or purchase;
- outcomes are counted once per (tenant_id, event_id): retried deliveries must not inflate CTR;
  event ids are tenant-scoped as the API assigns them, so two tenants' equal ids are two events;
- a repeated exposure (same tenant_id, request_id) keeps its first record;
- no attribution window: an outcome joins whenever it names the request_id.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from recengine.attribution.records import SCHEMAS

from .variants import MIN_SAMPLE, render_variants, variant_report

SCHEMA_DIR_ENV = "ATTRIBUTION_SCHEMA_DIR"
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"  # <repo>/schemas


def schema_dir() -> Path:
    """Where the JSON Schemas live: $ATTRIBUTION_SCHEMA_DIR, else <repo>/schemas."""
    override = os.environ.get(SCHEMA_DIR_ENV)
    return Path(override) if override else SCHEMA_DIR


def schema_path(name: str) -> Path:
    """The file of a known schema; unknown names fail before any file is opened."""
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r} (known: {', '.join(SCHEMAS)})")
    return schema_dir() / f"{name}.json"


class Issue(NamedTuple):
    """One problem in a JSONL file, at a 1-based line number."""

    line: int
    message: str


class JsonlError(ValueError):
    """A line that is not one JSON record; carries its line number for FILE:LINE messages."""

    def __init__(self, path: str | Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, record, error) per non-blank line; bytes are decoded per line so that a bad
    byte is reported at its line rather than aborting the whole read."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None, "not UTF-8"
                continue
            if not text.strip():
                continue
            try:
                yield number, json.loads(text, parse_constant=_reject_constant), None
            except json.JSONDecodeError as exc:
                yield number, None, f"invalid JSON: {exc.msg} (column {exc.colno})"
            except ValueError as exc:
                yield number, None, f"invalid JSON: {exc}"


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) per non-blank line; a line that is not JSON raises JsonlError."""
    for number, record, error in _parse(path):
        if error is not None:
            raise JsonlError(path, number, error)
        yield number, record


def _message(error: Any) -> str:
    """The most specific reason: inside an anyOf, the branch whose type matched, not 'not of type null'."""
    while error.context:
        specific = [e for e in error.context if e.validator != "type"]
        if not specific:
            break
        error = specific[0]
    if error.validator == "not" and isinstance(error.schema, dict) and error.schema.get("description"):
        text = f"{error.instance!r}: {error.schema['description']}"
    else:
        text = error.message
    return f"{error.json_path}: {text}"


def validate(path: str | Path, schema_name: str) -> list[Issue]:
    """Every schema violation and unreadable line in a JSONL file, in line order."""
    from jsonschema import Draft202012Validator  # dev/analyst dependency, not in the Lambda layer

    validator = Draft202012Validator(json.loads(schema_path(schema_name).read_text(encoding="utf-8")))
    issues: list[Issue] = []
    for number, record, error in _parse(path):
        if error is not None:
            issues.append(Issue(number, error))
            continue
        if isinstance(record, dict) and record.get("schema") != schema_name:
            # one line instead of a dozen 'unexpected property' ones when the wrong file is passed
            issues.append(Issue(number, f"$.schema: expected {schema_name!r}, got {record.get('schema')!r}"))
            continue
        for violation in sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path))):
            issues.append(Issue(number, _message(violation)))
    return issues


def count_records(path: str | Path) -> int:
    return sum(1 for _ in read_jsonl(path))


@dataclass
class _Shown:
    """One exposure and what its joined outcomes did to it."""

    group: tuple[str | None, str | None]
    items: frozenset[str]
    user_key: str | None = None
    ts: float = 0.0
    clicked: set[str] = field(default_factory=set)
    purchased: set[str] = field(default_factory=set)
    outcomes: int = 0
    off_list: int = 0


def _ratio(numerator: int, denominator: int) -> float | None:
    """None rather than 0 when nothing was measured: 'no lists' is not 'a CTR of zero'."""
    return numerator / denominator if denominator else None


def _metrics(counts: Counter) -> dict[str, Any]:
    keys = ("lists", "impressions", "clicks", "purchases", "clicked_lists", "outcomes", "off_list")
    out: dict[str, Any] = {k: counts[k] for k in keys}
    out["ctr"] = _ratio(counts["clicks"], counts["impressions"])
    out["list_ctr"] = _ratio(counts["clicked_lists"], counts["lists"])
    out["conversion"] = _ratio(counts["purchases"], counts["impressions"])
    return out


def _group_order(key: tuple[str | None, str | None]) -> tuple:
    model, surface = key
    return (model is None, model or "", surface is None, surface or "")


def report(exposures: Iterable[Mapping[str, Any]], outcomes: Iterable[Mapping[str, Any]],
           assignments: Iterable[Mapping[str, Any]] | None = None, min_sample: int = MIN_SAMPLE) -> dict[str, Any]:
    """Join rate and per-(model_id, surface) CTR / list CTR / conversion; with assignment.v1 records,
    per-variant figures and tests of each experiment too (variants.py). Expects schema-valid records."""
    lists: dict[tuple[str, str], _Shown] = {}
    duplicate_exposures = 0
    for exposure in exposures:
        key = (exposure["tenant_id"], exposure["request_id"])
        if key in lists:
            duplicate_exposures += 1
            continue
        lists[key] = _Shown(group=(exposure.get("model_id"), exposure.get("surface")),
                            items=frozenset(item["id"] for item in exposure["items"]),
                            user_key=exposure.get("user_key"), ts=float(exposure.get("ts") or 0.0))

    events: set[tuple[str, str]] = set()
    duplicate_outcomes = joined = 0
    for outcome in outcomes:
        event = (outcome["tenant_id"], outcome["event_id"])
        if event in events:
            duplicate_outcomes += 1
            continue
        events.add(event)
        shown = lists.get((outcome["tenant_id"], outcome["request_id"]))
        if shown is None:
            continue
        joined += 1
        shown.outcomes += 1
        item = outcome["item_id"]
        if item not in shown.items:
            shown.off_list += 1
        elif outcome["type"] == "click":
            shown.clicked.add(item)
        elif outcome["type"] == "purchase":
            shown.purchased.add(item)

    groups: dict[tuple[str | None, str | None], Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for shown in lists.values():
        counts = Counter(lists=1, impressions=len(shown.items), clicks=len(shown.clicked),
                         purchases=len(shown.purchased), clicked_lists=int(bool(shown.clicked)),
                         outcomes=shown.outcomes, off_list=shown.off_list,
                         lists_with_outcome=int(shown.outcomes > 0))
        groups[shown.group].update(counts)
        overall.update(counts)

    result = {
        "exposures": len(lists),
        "duplicate_exposures": duplicate_exposures,
        "outcomes": len(events),
        "duplicate_outcomes": duplicate_outcomes,
        "joined_outcomes": joined,
        "join_rate": _ratio(joined, len(events)),
        "exposures_with_outcome": _ratio(overall["lists_with_outcome"], len(lists)),
        "off_list": overall["off_list"],
        "overall": _metrics(overall),
        "groups": [{"model_id": key[0], "surface": key[1], **_metrics(groups[key])}
                   for key in sorted(groups, key=_group_order)],
    }
    if assignments is not None:
        result["experiments"], result["warnings"] = variant_report(lists, assignments, min_sample)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def render(result: Mapping[str, Any]) -> str:
    """The report as a fixed-width table plus the join figures."""
    header = f"{'MODEL':<32} {'SURFACE':<16} {'LISTS':>7} {'IMPRESSIONS':>11} {'CTR':>8} {'LIST CTR':>9} " \
             f"{'CONVERSION':>10} {'OFF-LIST':>8}"
    lines = [header]

    def row(model: str, surface: str, m: Mapping[str, Any]) -> str:
        return f"{model[:32]:<32} {surface[:16]:<16} {m['lists']:>7} {m['impressions']:>11} {_pct(m['ctr']):>8} " \
               f"{_pct(m['list_ctr']):>9} {_pct(m['conversion']):>10} {m['off_list']:>8}"

    for group in result["groups"]:
        lines.append(row(group["model_id"] or "-", group["surface"] or "-", group))
    lines.append(row("all", "", result["overall"]))
    lines.append(f"join rate {_pct(result['join_rate'])} ({result['joined_outcomes']} of {result['outcomes']} "
                 f"outcomes; {result['duplicate_outcomes']} duplicate event ids ignored)")
    lines.append(f"exposures with an outcome {_pct(result['exposures_with_outcome'])} (of {result['exposures']}; "
                 f"{result['duplicate_exposures']} repeated request ids ignored)")
    if "experiments" in result:
        lines += render_variants(result["experiments"], result["warnings"])
    return "\n".join(lines)
