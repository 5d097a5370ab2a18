"""Batches taken entry by entry: the envelope is checked whole (a JSON object naming 1 to MAX_BATCH
entries; otherwise the whole request is a 4xx), then each entry on its own, so the valid entries go
on and each invalid one is reported by its index with its FieldErrors."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, ClassVar, Generic, Hashable, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model

from .app import field_errors, validate
from .problems import Problem, ValidationFailed
from .schemas import MAX_BATCH, Strict

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True)
class Batch(Generic[E]):
    """The valid entries with their index in the request, and the rejected ones (index, errors)."""

    entries: list[tuple[int, E]]
    rejected: list[dict]


@lru_cache(maxsize=None)
def _envelope(name: str, field: str) -> type[BaseModel]:
    return create_model(f"{name}Envelope", __base__=Strict,
                        **{field: (list[Any], Field(min_length=1, max_length=MAX_BATCH))})


def split_batch(data: Any, name: str, field: str, entry: type[E],
                key: Callable[[E], Hashable | None] | None = None) -> Batch[E]:
    """`data[field]` validated entry by entry. An entry whose `key` (when not None) repeats an earlier
    entry's is rejected (code `duplicate_in_batch`): the first one stands."""
    envelope = validate(_envelope(name, field), data)
    entries, rejected, seen = [], [], {}
    for index, raw in enumerate(getattr(envelope, field)):
        try:
            value = entry.model_validate(raw)
        except ValidationError as exc:
            rejected.append({"index": index, "errors": field_errors(exc, (field, index))})
            continue
        k = key(value) if key is not None else None
        if k is not None:
            if k in seen:
                rejected.append({"index": index, "errors": [{
                    "field": f"{field}.{index}", "code": "duplicate_in_batch",
                    "message": f"repeats entry {seen[k]} of this batch; the first one stands"}]})
                continue
            seen[k] = index
        entries.append((index, value))
    return Batch(entries, rejected)


class BatchRequest(Strict):
    """A batch request model: the whole model documents the body (and validates it all or nothing);
    `split` takes it entry by entry, as the handlers do (`app.batch(Model)`)."""

    entries_field: ClassVar[str]
    entry_model: ClassVar[type[BaseModel]]

    @classmethod
    def entry_key(cls, entry: Any) -> Hashable | None:
        """The key of an entry that must be unique within a batch; None: no such key."""
        return None

    @classmethod
    def envelope(cls, data: Any) -> Any:
        """The body as an envelope (e.g. a bare event read as a batch of one)."""
        return data

    @classmethod
    def split(cls, data: Any) -> Batch:
        return split_batch(cls.envelope(data), cls.__name__, cls.entries_field, cls.entry_model, key=cls.entry_key)


class Conflict(Problem):
    status, slug = 409, "conflict"


def nothing_accepted(rejected: list[dict]) -> Problem:
    """The answer when every entry was rejected: 409 when each was a conflict, else 422; the
    rejections are in `rejected` and their errors in `errors`."""
    errors = [e for r in rejected for e in r["errors"]]
    if errors and all(e["code"] == "conflict" for e in errors):
        return Conflict("every entry reuses an id for a different body", errors=errors, extra={"rejected": rejected})
    return ValidationFailed("no entry of the batch is valid", errors=errors, extra={"rejected": rejected})


def batch_status(ok: int, rejected: list[dict]) -> int:
    """`ok` (what an all-valid batch answers) when nothing was rejected, 207 when some entries were."""
    return 207 if rejected else ok
