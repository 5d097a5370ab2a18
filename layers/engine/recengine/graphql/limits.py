"""What one GraphQL request may ask for: the body's size, the query's depth (a validation rule over the
AST), the number of root fields (each alias is a service call, so this is the cost) and `count`."""

from __future__ import annotations

from typing import Any, Callable

from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode,
                     OperationDefinitionNode, SelectionSetNode, ValidationContext, ValidationRule)

from ..http.problems import Problem

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 6
# The standard introspection query is 15 levels deep (`ofType` chains); it touches no service, so it
# gets a depth bound of its own (and one on its list fields) rather than being refused.
MAX_INTROSPECTION_DEPTH = 16
MAX_ROOT_FIELDS = 20
MIN_COUNT, MAX_COUNT = 1, 100
MAX_TOKENS = 5_000  # the parser stops early on a query made of tokens rather than depth
INTROSPECTION_FIELDS = ("__schema", "__type")
# Introspection's list fields multiply what a nested query returns (types x fields x args ...); the
# standard query nests at most three in one path (__schema.types.fields.args).
INTROSPECTION_LISTS = frozenset({"types", "fields", "args", "inputFields", "interfaces", "possibleTypes",
                                 "enumValues", "directives"})
MAX_INTROSPECTION_LISTS = 3


def _heaviest_path(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
                   weigh: Callable[[FieldNode], int], seen: frozenset[str] = frozenset()) -> int:
    """The largest sum of `weigh` along any path of fields below this selection set; fragments are
    followed once per path (a cycle is reported by NoFragmentCycles)."""
    if selection_set is None:
        return 0
    heaviest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            below = _heaviest_path(selection.selection_set, fragments, weigh, seen)
            heaviest = max(heaviest, weigh(selection) + below)
        elif isinstance(selection, InlineFragmentNode):
            heaviest = max(heaviest, _heaviest_path(selection.selection_set, fragments, weigh, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                heaviest = max(heaviest, _heaviest_path(fragments[name].selection_set, fragments, weigh,
                                                        seen | {name}))
    return heaviest


def _level(_field: FieldNode) -> int:
    return 1


def _fan_out(field: FieldNode) -> int:
    return 1 if field.name.value in INTROSPECTION_LISTS else 0


def root_fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode],
                seen: frozenset[str] = frozenset()) -> list[FieldNode]:
    """The operation's top-level fields, through fragments: each is resolved (and billed) on its own."""
    out: list[FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            out += root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                out += root_fields(fragments[name].selection_set, fragments, seen | {name})
    return out


class QueryLimits(ValidationRule):
    """Refuses an operation nested deeper than MAX_DEPTH (introspection: MAX_INTROSPECTION_DEPTH) or
    with more than MAX_ROOT_FIELDS top-level fields and aliases; each error says which limit."""

    def __init__(self, context: ValidationContext):
        super().__init__(context)
        self.fragments = {d.name.value: d for d in context.document.definitions
                          if isinstance(d, FragmentDefinitionNode)}

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        fields = root_fields(node.selection_set, self.fragments)
        name = node.name.value if node.name else "(anonymous)"
        if len(fields) > MAX_ROOT_FIELDS:
            self.report_error(GraphQLError(
                f"operation {name} asks for {len(fields)} root fields; at most {MAX_ROOT_FIELDS} are allowed",
                node, extensions={"limit": "root-fields", "max": MAX_ROOT_FIELDS}))
        for field in fields:
            depth = _heaviest_path(SelectionSetNode(selections=(field,)), self.fragments, _level)
            introspection = field.name.value in INTROSPECTION_FIELDS
            bound = MAX_INTROSPECTION_DEPTH if introspection else MAX_DEPTH
            if depth > bound:
                self.report_error(GraphQLError(
                    f"{field.name.value} is nested {depth} levels deep; at most {bound} are allowed",
                    field, extensions={"limit": "depth", "max": bound}))
            lists = _heaviest_path(SelectionSetNode(selections=(field,)), self.fragments, _fan_out)
            if introspection and lists > MAX_INTROSPECTION_LISTS:
                self.report_error(GraphQLError(
                    f"{field.name.value} nests {lists} lists in one path; at most {MAX_INTROSPECTION_LISTS} are "
                    "allowed", field, extensions={"limit": "introspection-lists", "max": MAX_INTROSPECTION_LISTS}))


class BodyTooLarge(Problem):
    status, slug = 413, "content-too-large"


def body_too_large(raw: str | bytes | None) -> bool:
    """Whether the request body is over MAX_BODY_BYTES (counted in UTF-8 bytes)."""
    if raw is None:
        return False
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", errors="replace"))
    return size > MAX_BODY_BYTES
