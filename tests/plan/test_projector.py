"""A selection of scalars projected by its own function answers as the step-by-step projection does: the
same object (down to each value's type), the same errors at the same paths, over a generated corpus of steps
(masks, serializers that fail, several departments, protected fields) and rows (missing rows, null values,
values of the wrong type); a list notes every protected path of every object it made."""

from __future__ import annotations

import datetime
import random
from types import SimpleNamespace
from typing import Any

from govgraph.audit.withhold import released_paths
from govgraph.errors import Forbidden
from govgraph.plan.projector import leaf_projector
from govgraph.plan.run import _Pending, _Runner
from govgraph.plan.steps import Denied, Leaf, Selection, Typename


def iso(value: Any) -> str:
    return value.isoformat()  # AttributeError for anything but a date: a value that does not serialize


def masked(value: Any) -> str:
    return value[:2] + "**"  # TypeError for a number: a mask that fails fails either way


def no_longer(value: Any) -> None:
    return None


SERIALIZERS = [(str, str), (iso, None), (int, int), (float, float), (bool, bool)]
TRANSFORMS = [None, None, None, masked, len, no_longer]
VALUES = ["110101194001142613", "闫刚秀", "", 0, 7, 2.5, True, None, None, datetime.date(1940, 1, 14), "abc"]


def steps_and_rows(rng: random.Random, fetches: int | None = None) -> tuple[list[Any], list[Any]]:
    fetches = fetches or rng.randint(1, 3)
    steps: list[Any] = []
    for index in range(rng.randint(1, 7)):
        if rng.random() < 0.1:
            steps.append(Typename(f"t{index}", "Person"))
            continue
        serialize, plain = rng.choice(SERIALIZERS)
        steps.append(
            Leaf(
                f"k{index}",
                f"field{index}",
                rng.randrange(fetches),
                f"c{index}",
                rng.choice(TRANSFORMS),
                serialize,
                plain,
                rng.random() < 0.4,
                (),
            )
        )
    rows: list[Any] = []
    for _ in range(fetches):
        if rng.random() < 0.15:
            rows.append(None)
        else:
            rows.append({f"c{index}": rng.choice(VALUES) for index in range(len(steps))})
    return steps, rows


def outcome(selection: Selection, rows: list[Any], base: tuple[Any, ...], *, scalars: bool) -> Any:
    runner = _Runner(SimpleNamespace(released=[]))  # type: ignore[arg-type]
    try:
        if scalars:
            assert selection.projector is not None
            value = runner._project_scalars(selection.projector, selection, "k", rows, base)
        else:
            value = runner._project(selection, "k", rows, base, [], _Pending())
    except Exception as error:
        return ("raised", type(error).__name__)
    errors = [(error.message, error.path) for error in runner.errors]
    return (repr(value), errors)


def test_the_scalar_function_answers_as_the_steps_do() -> None:
    rng = random.Random(20261203)
    errors = raised = 0
    for _ in range(3000):
        steps, rows = steps_and_rows(rng)
        selection = Selection("Person", None, tuple(steps), leaf_projector(steps))  # type: ignore[arg-type]
        base = ("persons", rng.randrange(1000))
        fast = outcome(selection, rows, base, scalars=True)
        assert fast == outcome(selection, rows, base, scalars=False), (steps, rows)
        raised += fast[0] == "raised"
        errors += fast[0] != "raised" and bool(fast[1])
    assert errors > 200, "the corpus has values that do not serialize"
    assert raised > 50, "and masks that fail"


async def test_a_list_projected_in_chunks_answers_as_object_by_object() -> None:
    rng = random.Random(20261204)
    errors = raised = 0
    for _ in range(1500):
        steps, _ = steps_and_rows(rng, fetches=1)
        selection = Selection("Person", None, tuple(steps), leaf_projector(steps))  # type: ignore[arg-type]
        assert selection.projector is not None
        rows = [
            None if rng.random() < 0.15 else steps_and_rows(rng, fetches=1)[1][0] or {}
            for _ in range(rng.randint(0, 12))
        ]
        for row in rows:
            if row is not None:
                for index in range(len(steps)):
                    row.setdefault(f"c{index}", rng.choice(VALUES))
        keys = [f"key{index}" for index in range(len(rows))]
        bases = [("persons", index) for index in range(len(rows))]
        pace = rng.choice([0, 1, 3, 100])

        chunked = _Runner(SimpleNamespace(released=[]))  # type: ignore[arg-type]
        one_by_one = _Runner(SimpleNamespace(released=[]))  # type: ignore[arg-type]
        try:
            objects: Any = await chunked._project_rows(
                selection.projector, selection, keys, rows, bases, pace
            )
        except Exception as error:
            objects = ("raised", type(error).__name__)
        try:
            expected: Any = [
                None if row is None else one_by_one._project(selection, key, [row], base, [], _Pending())
                for key, row, base in zip(keys, rows, bases, strict=True)
            ]
        except Exception as error:
            expected = ("raised", type(error).__name__)
        assert repr(objects) == repr(expected), (steps, rows, pace)
        if objects and objects[0] == "raised":
            raised += 1
            continue
        assert [(error.message, error.path) for error in chunked.errors] == [
            (error.message, error.path) for error in one_by_one.errors
        ]
        protected = [step.key for step in steps if isinstance(step, Leaf) and step.protected]
        assert released_paths(chunked.context.released) == {
            (*base, key)
            for row, base in zip(rows, bases, strict=True)
            if row is not None
            for key in protected
        }, "every protected path of every object made"
        errors += bool(chunked.errors)
    assert errors > 100, "chunks with values that do not serialize were projected again"
    assert raised > 20


def test_a_selection_with_anything_but_scalars_keeps_the_steps() -> None:
    leaf = Leaf("name", "name", 0, "full_name", None, str, str, False, ())
    denied = Denied("income", Forbidden("Person.annualIncome", "denied"), ())
    assert leaf_projector([leaf]) is not None
    assert leaf_projector([leaf, denied]) is None
    assert leaf_projector([]) is None


def test_nothing_a_client_writes_reaches_the_function_source() -> None:
    hostile = 'x"}; import os; os.system("true"); {"'
    leaf = Leaf(hostile, hostile, 0, hostile, None, str, str, True, ())
    projector = leaf_projector([leaf])
    assert projector is not None
    assert projector([{hostile: "value"}]) == {hostile: "value"}
    assert Selection("Person", None, (leaf,), projector).protected_keys == (hostile,)  # type: ignore[arg-type]
