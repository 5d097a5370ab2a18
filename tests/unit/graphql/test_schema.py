"""The committed SDL is the schema the code serves: it prints back unchanged (normalised by
graphql-core), every Query and Mutation field has a resolver and no resolver is left over, and the
limits rule refuses what it should on a schema deeper than the seed's."""

from __future__ import annotations

from graphql import build_schema, parse, print_schema, specified_rules, validate

from recengine.graphql import service
from recengine.graphql.limits import MAX_DEPTH, MAX_ROOT_FIELDS, QueryLimits
from recengine.graphql.resolvers import MUTATION_RESOLVERS, QUERY_RESOLVERS

SEED_OPERATIONS = {"Query": {"getRecommendations", "getSimilarItems", "getApiVersion", "getHealth"},
                   "Mutation": {"recordInteraction"}}


def test_the_committed_sdl_is_normalised_and_is_the_served_schema():
    sdl = service.SDL_PATH.read_text()
    assert print_schema(build_schema(sdl)) + "\n" == sdl
    assert print_schema(service.schema()) == print_schema(build_schema(sdl))


def test_every_root_field_has_a_resolver_and_only_the_seeds_operations_exist():
    served = service.schema()
    assert set(served.query_type.fields) == set(QUERY_RESOLVERS) == SEED_OPERATIONS["Query"]
    assert set(served.mutation_type.fields) == set(MUTATION_RESOLVERS) == SEED_OPERATIONS["Mutation"]
    for type_ in (served.query_type, served.mutation_type):
        assert all(f.resolve is not None for f in type_.fields.values()), type_.name


def test_the_seeds_field_names():
    served = service.schema()
    fields = {name: set(served.type_map[name].fields) for name in
              ("Recommendation", "SimilarItem", "Health", "InteractionResult")}
    assert fields == {"Recommendation": {"itemId", "score", "algorithm", "explanation"},
                      "SimilarItem": {"itemId", "score"}, "Health": {"status", "timestamp"},
                      "InteractionResult": {"success", "message", "timestamp"}}
    args = {n: set(f.args) for n, f in served.query_type.fields.items()}
    assert args["getRecommendations"] == {"userId", "count", "algorithm"}
    assert args["getSimilarItems"] == {"itemId", "count"}
    assert set(served.mutation_type.fields["recordInteraction"].args) == {"userId", "itemId", "interactionType",
                                                                          "value"}


DEEP = build_schema("type Node { name: String child: Node } type Query { root: Node }")


def _errors(document: str) -> list[str]:
    return [e.message for e in validate(DEEP, parse(document), [*specified_rules, QueryLimits])]


def _nested(levels: int) -> str:
    return "{ root { " + "child { " * (levels - 2) + "name" + " }" * (levels - 2) + " } }"


def test_the_depth_limit_counts_fields_and_follows_fragments():
    assert _errors(_nested(MAX_DEPTH)) == []
    assert any("levels deep" in m for m in _errors(_nested(MAX_DEPTH + 1)))
    spread = "fragment F on Node { child { child { child { child { child { name } } } } } } { root { ...F } }"
    assert any("levels deep" in m for m in _errors(spread))
    assert _errors("{ root { ... on Node { ... on Node { name } } } }") == []  # inline fragments add no level


def test_the_root_field_limit_counts_aliases_and_fragments():
    fields = " ".join(f"a{n}: root {{ name }}" for n in range(MAX_ROOT_FIELDS))
    assert _errors("{ " + fields + " }") == []
    assert any("root fields" in m for m in _errors("{ " + fields + " extra: root { name } }"))
    assert any("root fields" in m for m in _errors("fragment R on Query { more: root { name } } { " + fields + " ...R }"))
