"""The short way of coercing variables gives graphql-core's answer, value for value and error for error,
over a generated corpus of variable types and values: every input type of govgraph's schema, bare, non-null
and in lists, with valid, invalid, missing, null, nested and lone values."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLError, GraphQLSchema, is_input_type, parse

from govgraph import Settings, create_app
from govgraph.identifiers import credit_code_check_char
from govgraph.operation import variables
from tests.plan.test_early_audit import person_ids

CREDIT_CODE = "91110000MA0000000" + credit_code_check_char("91110000MA0000000")
WRAPPERS = ("{}", "{}!", "[{}]", "[{}!]", "[{}]!", "[{}!]!", "[[{}!]!]")


@pytest.fixture(scope="module")
def schema(demo_dir: Path) -> GraphQLSchema:
    app = create_app(Settings(), environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    return app.state.schema._schema  # type: ignore[no-any-return]


def values_for(ids: list[str]) -> list[Any]:
    bad_check = ids[0][:17] + ("0" if ids[0][17] != "0" else "1")
    scalars = [
        *ids[:3],
        bad_check,
        CREDIT_CODE,
        "91110000MA0000000X",
        "2026-12-03",
        "2026-13-40",
        "2026-12-03T10:00:00+08:00",
        "PERSON",
        "person",
        "NOT_A_VALUE",
        "",
        "x" * 40,
        0,
        7,
        -3,
        2**31,
        2**70,
        1.5,
        2.0,
        float("inf"),
        True,
        False,
        {"since": "2026-01-01"},
        {"nope": 1},
    ]
    lists = [[], [None], ids[:5], [*ids[:3], None], [*ids[:3], bad_check], [[ids[0]]], [1, 2, 3], ["a", 2]]
    return [*scalars, *lists, list(ids), None]


def fitting(schema: GraphQLSchema, name: str, ids: list[str]) -> Any:
    """A value of the named type that should coerce."""
    type_ = schema.type_map.get(name)
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    return {
        "IdNumber": ids[7],
        "CreditCode": CREDIT_CODE,
        "String": "a string",
        "Int": 42,
        "Float": 2.5,
        "Boolean": False,
        "Date": "2026-12-03",
        "DateTime": "2026-12-03T10:00:00+08:00",
        "_Any": {"__typename": "Person"},
    }.get(name, "a string")


def corpus(schema: GraphQLSchema, ids: list[str], size: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    types = sorted(name for name, type_ in schema.type_map.items() if is_input_type(type_))
    values = values_for(ids)
    cases = []
    for _ in range(size):
        count = rng.choice([1, 1, 2, 3])
        definitions = []
        inputs: dict[str, Any] = {}
        for index in range(count):
            name = rng.choice([*types, "Nowhere"])
            wrapper = rng.choice(WRAPPERS)
            type_text = wrapper.format(name)
            default = ""
            if rng.random() < 0.15 and not type_text.endswith("!"):
                default = rng.choice([" = null", ' = "x"', " = 3", " = []"])
            definitions.append(f"$v{index}: {type_text}{default}")
            if rng.random() < 0.1:
                continue  # not given
            if rng.random() < 0.5:
                value = fitting(schema, name, ids)
                inputs[f"v{index}"] = [value] * rng.randint(0, 4) if wrapper.startswith("[") else value
            else:
                inputs[f"v{index}"] = rng.choice(values)
        cases.append((f"query({', '.join(definitions)}) {{ __typename }}", inputs))
    # The review office's request, and the same with one bad key among a thousand.
    cases.append(("query($ids: [IdNumber!]!) { __typename }", {"ids": list(ids)}))
    cases.append(("query($ids: [IdNumber!]!) { __typename }", {"ids": [*ids[:-1], ids[0][:17] + "Y"]}))
    return cases


def answer(result: Any) -> Any:
    if isinstance(result, list):
        return [("error", error.message, error.locations, repr(error.original_error)) for error in result]
    return (
        "values",
        repr(result.coerced),
        {name: (str(source.signature.type), repr(source.value)) for name, source in result.sources.items()},
    )


async def test_the_short_way_answers_as_graphql_core_does(schema: GraphQLSchema, demo_dir: Path) -> None:
    ids = await person_ids(demo_dir, 1000)
    cases = corpus(schema, ids, 1500, seed=20261203)
    short = 0
    for query, inputs in cases:
        definitions = parse(query).definitions[0].variable_definitions  # type: ignore[attr-defined]
        for hide in (False, True):
            ours = variables.get_variable_values(schema, definitions, inputs, 50, hide)
            theirs = variables.from_graphql_core(schema, definitions, inputs, 50, hide)
            assert answer(ours) == answer(theirs), (query, inputs)
        try:
            variables._short_way(schema, definitions, inputs)
            short += 1
        except variables._Slow:
            pass
    assert short > 200, "the corpus takes the short way often"
    assert len(cases) - short > 200, "and the long way often"


def test_executors_coerce_the_short_way() -> None:
    from graphql.execution import executor

    import govgraph.operation.executor  # noqa: F401 (installs it)

    assert executor.get_variable_values is variables.get_variable_values
    assert variables.from_graphql_core is not variables.get_variable_values


def test_an_error_from_the_short_way_is_never_its_own(schema: GraphQLSchema) -> None:
    definitions = parse("query($ids: [IdNumber!]!) { __typename }").definitions[0].variable_definitions  # type: ignore[attr-defined]
    result = variables.get_variable_values(schema, definitions, {"ids": ["110101199003070000"]})
    assert isinstance(result, list) and all(isinstance(error, GraphQLError) for error in result)
    assert "Invalid IdNumber" in result[0].message and "$ids" in result[0].message
