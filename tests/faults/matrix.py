"""The fault matrix as data: for each route, every AWS call it makes (test_matrix.py checks the list
against the calls a request really makes) and what the caller gets when that call fails after the
SDK's retries: the list still served (`served`), a fallback list with a warning (`fallback`), or a
503 problem+json with Retry-After (`unavailable`) when nothing can be served. Never a 500.
`OBSERVED` collects what each run saw, for bench/fault_matrix.py's table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    resource: str  # the table (or `models`, the artefact objects)

    def __str__(self) -> str:
        return f"{self.service} {self.operation} {self.resource}"


@dataclass(frozen=True)
class Outcome:
    kind: str  # served | fallback | unavailable
    warning: str | None = None  # the warning code a fallback carries


SERVED, UNAVAILABLE = Outcome("served"), Outcome("unavailable")


def fallback(code: str) -> Outcome:
    return Outcome("fallback", code)


KEY = Call("dynamodb", "GetItem", "Tenants")  # the API key's tenant: nothing is served without it
METER = Call("dynamodb", "TransactWriteItems", "Usage")  # a metered call: its count is deferred
MODEL = fallback("model_unavailable")  # the previous version, else popular items
# the listing gives the files and sizes, then one GET per file (no HEAD: models/artefacts.py)
# A cold start reads the live version (GetItem) and fetches its pack with one GetObject; the listing
# and per-file GETs of a version without a pack are drilled in tests/faults/test_artefacts.py.
ARTEFACT_CALLS = {Call("dynamodb", "GetItem", "Models"): MODEL, Call("s3", "GetObject", "models"): MODEL}

EXPECTED: dict[str, dict[Call, Outcome]] = {
    "recommend": {KEY: UNAVAILABLE, METER: SERVED,
                  Call("dynamodb", "Query", "Interactions"): fallback("history_unavailable"),
                  Call("dynamodb", "Query", "Sessions"): fallback("history_unavailable"),
                  Call("dynamodb", "Query", "Exposures"): fallback("frequency_cap_unavailable"),
                  # the user's portal record (is the user active?): unread, the user is personalised as before
                  Call("dynamodb", "GetItem", "Interactions"): SERVED,
                  **ARTEFACT_CALLS,
                  # the tenant's decision flows and experiments (cached per container): unread, ranked
                  # without them, with a warning (a request naming a flow gets a 503 instead)
                  Call("dynamodb", "Query", "Models"): fallback("decisioning_unavailable"),
                  # the catalogue changes since the model's snapshot (ADR 0003): unread, the items
                  # themselves are read instead, so inactive items and rules are still filtered out
                  Call("dynamodb", "Query", "Items"): SERVED,
                  Call("dynamodb", "PutItem", "Exposures"): fallback("exposure_not_stored")},
    "similar": {KEY: UNAVAILABLE, METER: SERVED, **ARTEFACT_CALLS,
                Call("dynamodb", "Query", "Items"): SERVED},
    "interactions": {KEY: UNAVAILABLE, METER: SERVED,
                     Call("dynamodb", "BatchGetItem", "Interactions"): UNAVAILABLE,  # seen-user markers
                     # the day's active-user markers (analytics): unread, the call is served, those users
                     # are not counted active by it
                     Call("dynamodb", "BatchGetItem", "Usage"): SERVED,
                     Call("dynamodb", "UpdateItem", "Usage"): UNAVAILABLE,  # the plan's user count
                     # event-id claims, history rows and seen-user markers, all or nothing (ADR 0002)
                     Call("dynamodb", "TransactWriteItems", "Interactions"): UNAVAILABLE},
    "items.upsert": {KEY: UNAVAILABLE, Call("dynamodb", "BatchGetItem", "Items"): UNAVAILABLE,
                     Call("dynamodb", "UpdateItem", "Usage"): UNAVAILABLE,
                     Call("dynamodb", "BatchWriteItem", "Items"): UNAVAILABLE,  # the change record, first
                     Call("dynamodb", "PutItem", "Items"): UNAVAILABLE},
    "items.list": {KEY: UNAVAILABLE, Call("dynamodb", "Query", "Items"): UNAVAILABLE},
    "items.get": {KEY: UNAVAILABLE, Call("dynamodb", "GetItem", "Items"): UNAVAILABLE},
    # the item and its change row in one transaction (ADR 0003)
    "items.delete": {KEY: UNAVAILABLE, Call("dynamodb", "TransactWriteItems", "Items"): UNAVAILABLE},
}

FAULTS = {"dynamodb": ("throttling", "internal", "timeout"), "s3": ("slowdown", "internal", "timeout")}

CASES = [(route, call, kind) for route, calls in EXPECTED.items() for call in calls for kind in FAULTS[call.service]]

OBSERVED: dict[tuple[str, Call, str], str] = {}  # (route, call, fault) -> "200 fallback `code`", ...


def describe(status: int, headers: dict, body) -> str:
    """What the caller saw, in a few words (for the table)."""
    if status == 503:
        return "503 Retry-After" if "Retry-After" in headers else "503 (no Retry-After)"
    if status >= 400:
        return f"{status} {body.get('type', '') if isinstance(body, dict) else ''}".strip()
    warnings = [w["code"] for w in (body.get("warnings") or [])] if isinstance(body, dict) else []
    return f"{status}" + (" " + ", ".join(f"`{w}`" for w in warnings) if warnings else "")


def markdown() -> str:
    """The observed matrix: one row per (route, call), one column per fault kind."""
    kinds = sorted({k for ks in FAULTS.values() for k in ks}, key=lambda k: list(FAULTS["dynamodb"] + ("slowdown",))
                   .index(k))
    lines = ["| route | call | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
    for route, calls in EXPECTED.items():
        for call in calls:
            cells = [OBSERVED.get((route, call, k), "n/a" if k not in FAULTS[call.service] else "not run")
                     for k in kinds]
            lines.append(f"| {route} | {call} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def artefact_markdown() -> str:
    """The observed outcomes of broken model artefacts, one row per tampering, one column per route."""
    routes = sorted({route for (route, call, kind) in OBSERVED if kind == "artefact"})
    cases = list(dict.fromkeys(call.resource for (_, call, kind) in OBSERVED if kind == "artefact"))
    lines = ["| model artefact | " + " | ".join(routes) + " |", "|---|" + "---|" * len(routes)]
    for case in cases:
        cells = [OBSERVED.get((r, Call("s3", "artefact", case), "artefact"), "not run") for r in routes]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
