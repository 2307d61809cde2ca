"""A record's keys: sorted once per request where they can be (a subset is picked out of a sorted superset),
and in the entity index each type's keys once, in the order the providers read them (the shortcut for
providers that read the same keys agrees with merging them one by one)."""

from __future__ import annotations

import random

from govgraph.audit.recorder import _SortedOnce
from govgraph.audit.records import AuditRecord, EntityAccess
from govgraph.audit.store import _entity_rows


def merged_one_by_one(position: int, record: AuditRecord) -> list[tuple[int, str, list[str]]]:
    keys: dict[str, dict[str, None]] = {}
    for entity in record.entities:
        keys.setdefault(entity.type, {}).update(dict.fromkeys(entity.keys))
    return [(position, entity_type, list(found)) for entity_type, found in keys.items() if found]


def record_reading(entities: list[EntityAccess]) -> AuditRecord:
    return AuditRecord(
        "r", "2026-12-04T00:00:00.000000Z", None, None, (), None, None, "h", None, tuple(entities)
    )


def generated(rng: random.Random) -> AuditRecord:
    pool = [f"{index:018d}" for index in range(40)]
    shared = tuple(rng.sample(pool, rng.randint(0, 12)))
    entities = []
    for department in rng.sample(["public_security", "taxation", "civil_affairs", "human_resources"], 3):
        entity_type = rng.choice(["Person", "Person", "Enterprise"])
        kind = rng.random()
        if kind < 0.4:
            keys = shared  # the same tuple, as the recorder hands it to every provider of a list
        elif kind < 0.6:
            keys = tuple(shared)[::-1][::-1]  # equal, not the same object
        else:
            keys = tuple(rng.sample(pool, rng.randint(0, 12)))
        if rng.random() < 0.1:
            keys = keys + keys[:2]  # a key twice
        entities.append(EntityAccess(entity_type, department, keys))
    return record_reading(entities)


def test_the_index_rows_agree_with_merging_every_provider_one_by_one() -> None:
    rng = random.Random(20261204)
    records = [generated(rng) for _ in range(2000)]
    assert [_entity_rows(7, record) for record in records] == [
        merged_one_by_one(7, record) for record in records
    ]
    assert sum(1 for record in records if not _entity_rows(7, record)) > 0, "records that read no keys too"


def test_a_key_read_by_several_providers_is_indexed_once() -> None:
    keys = ("110101199003071233", "110101199003071234")
    record = record_reading(
        [
            EntityAccess("Person", "public_security", keys),
            EntityAccess("Person", "taxation", keys),
            EntityAccess("Person", "civil_affairs", (keys[1], "110101199003071235")),
            EntityAccess("Enterprise", "market_regulation", ("91110105MA00GK2T0A",)),
        ]
    )
    assert _entity_rows(3, record) == [
        (3, "Person", [*keys, "110101199003071235"]),
        (3, "Enterprise", ["91110105MA00GK2T0A"]),
    ]


def test_each_providers_keys_come_sorted_however_they_overlap() -> None:
    rng = random.Random(1204)
    pool = [f"{index:018d}" for index in range(60)] + ["91110105MA00GK2T0A", "a", "Z"]
    for _ in range(500):
        ordered = _SortedOnce()
        universe = set(rng.sample(pool, rng.randint(0, 40)))
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if kind < 0.3:
                keys = set(universe)
            elif kind < 0.7:
                keys = {key for key in universe if rng.random() < 0.8}  # a subset: picked, not sorted again
            else:
                keys = set(rng.sample(pool, rng.randint(0, 40)))
            assert ordered(keys) == tuple(sorted(keys))
