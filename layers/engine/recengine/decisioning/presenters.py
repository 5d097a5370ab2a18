"""Wire bodies of the decisioning routes: each stored object as its request fields plus its id and
timestamps, so what a client PUTs back is what it read."""

from __future__ import annotations

from typing import Any

from .model import Route, encode
from .store import Stored


def object_body(stored: Stored) -> dict[str, Any]:
    body = encode(stored.value)
    if "source" in body:  # a flow: an explicit empty offer list says nothing
        body["source"] = {k: v for k, v in body["source"].items() if v != []}
    if "variants" in body:  # an experiment: variants keyed by name, as they are sent
        body["variants"] = {v.pop("name"): v for v in body["variants"]}
    return {**body, "created_at": stored.created_at, "updated_at": stored.updated_at}


def list_body(name: str, items: list[Stored]) -> dict[str, Any]:
    return {name: [object_body(s) for s in items]}


def routes_body(routes: list[Route]) -> dict[str, Any]:
    return {"routes": [encode(r) for r in routes]}
