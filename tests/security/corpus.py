"""A seeded generator of operations that select the schema's fields in every way GraphQL allows.

It reads the served schema, so a field added to the catalog is covered
without touching this file. Each field is selected plainly, under an alias
(including aliases that are other fields' names, or the kind of name a
server might inject for itself), under ``@include``/``@skip`` with literals
or variables (given, or left to their defaults), inside inline fragments
(typed, untyped, on the ``_Entity`` union), or through named fragments
reused at several places. Roots: lookups by key (literal or defaulted
variable), lists of keys, ``_entities`` and the enterprise directory.
Documents that graphql-core does not validate are dropped and regenerated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
)

ZHANG_WEI = "110101199003071233"
LI_NA = "110101199208152467"
WANG_JIANGUO = "110105196504123312"
EXAMPLE_TECH = "91110101MA01BXQ80Y"
OLD_TOWN = "91110105MA00GK2T0A"
PROPERTY = "京(2019)东城区不动产权第0001234号"
HOUSEHOLD = "H110101000001"

ENTITY_TYPES = ("Person", "Enterprise", "Property", "Household")
SKIPPED_FIELDS = {"_service", "me", "catalog", "auditLog", "usage", "myAccessLog"}
CONDITIONS = {
    "Int": ["lt: 60000", "gte: 100000", "eq: 0"],
    "Float": ["lt: 100", "gt: 0"],
    "Date": ['lt: "1990-01-01"', 'gte: "2000-01-01"'],
    "Boolean": ["eq: true", "eq: false"],
    "String": ['eq: "married"', 'ne: "x"', 'oneOf: ["A", "存续"]'],
    "IdNumber": [f'eq: "{LI_NA}"'],
    "CreditCode": [f'eq: "{EXAMPLE_TECH}"'],
    "reference": ["exists: true", "exists: false"],
    "list": ["exists: true", "countAtLeast: 2"],
}
TRICKY_ALIASES = ("__govgraph_typename", "__typename_", "name", "idNumber", "status", "node", "data")


@dataclass
class Document:
    text: str
    variables: dict[str, object]


@dataclass
class _Builder:
    schema: GraphQLSchema
    rng: random.Random
    max_depth: int = 3
    fragments: dict[str, str] = field(default_factory=dict)
    fragment_types: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    """Variable → its definition text (``$inc: Boolean = true``)."""
    values: dict[str, object] = field(default_factory=dict)
    aliases: int = 0
    counter: int = 0

    def document(self) -> Document:
        roots = [self._root() for _ in range(self.rng.randint(1, 2))]
        definitions = ", ".join(self.variables.values())
        head = f"query Generated({definitions})" if definitions else "query Generated"
        text = head + " {\n  " + "\n  ".join(roots) + "\n}\n" + "\n".join(self.fragments.values())
        return Document(text, dict(self.values))

    def _root(self) -> str:
        choice = self.rng.choice(
            ("person", "person", "persons", "enterprise", "property", "household", "entities", "directory")
        )
        key = self._key()
        if choice == "person":
            argument = self.rng.choice(
                (f'"{ZHANG_WEI}"', f'"{LI_NA}"', f'"{WANG_JIANGUO}"', self._variable_key())
            )
            return f"{key}person(idNumber: {argument}) {self._selection('Person', 1)}"
        if choice == "persons":
            return f'{key}persons(idNumbers: ["{ZHANG_WEI}", "{LI_NA}", "{WANG_JIANGUO}"]) {self._selection("Person", 1)}'
        if choice == "enterprise":
            code = self.rng.choice((EXAMPLE_TECH, OLD_TOWN))
            return f'{key}enterprise(creditCode: "{code}") {self._selection("Enterprise", 1)}'
        if choice == "property":
            return f'{key}property(certificateNo: "{PROPERTY}") {self._selection("Property", 1)}'
        if choice == "household":
            return f'{key}household(householdId: "{HOUSEHOLD}") {self._selection("Household", 1)}'
        if choice == "directory":
            return f"{key}enterpriseDirectory(first: 2) {{ edges {{ {self._key()}node {self._selection('Enterprise', 2)} }} }}"
        representations = ", ".join(
            self.rng.sample(
                [
                    f'{{__typename: "Person", idNumber: "{ZHANG_WEI}"}}',
                    f'{{__typename: "Person", idNumber: "{LI_NA}"}}',
                    f'{{__typename: "Enterprise", creditCode: "{EXAMPLE_TECH}"}}',
                    f'{{__typename: "Property", certificateNo: "{PROPERTY}"}}',
                    f'{{__typename: "Household", householdId: "{HOUSEHOLD}"}}',
                ],
                3,
            )
        )
        parts = [f"... on {name} {self._selection(name, 1)}" for name in self.rng.sample(ENTITY_TYPES, 2)]
        if self.rng.random() < 0.5:
            parts.append(f"... on _Entity {{ __typename ... on Person {self._selection('Person', 2)} }}")
        return f"{key}_entities(representations: [{representations}]) {{ {' '.join(parts)} }}"

    def _selection(self, type_name: str, depth: int) -> str:
        object_type = self.schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        names = [name for name in object_type.fields if name not in SKIPPED_FIELDS]
        chosen = self.rng.sample(names, min(len(names), self.rng.randint(2, 5)))
        return "{ " + " ".join(self._wrapped(object_type, name, depth) for name in chosen) + " }"

    def _wrapped(self, parent: GraphQLObjectType, name: str, depth: int) -> str:
        selection = self._field(parent, name, depth)
        roll = self.rng.random()
        if roll < 0.12:
            return f"... on {parent.name} {{ {selection} }}"
        if roll < 0.2:
            return f"... {self._directive()} {{ {selection} }}"
        if roll < 0.27 and parent.name in ENTITY_TYPES:
            return f"... on _Entity {{ ... on {parent.name} {{ {selection} }} }}"
        if roll < 0.4:
            return "..." + self._fragment(parent.name, selection) + self._maybe_directive(0.3)
        return selection

    def _field(self, parent: GraphQLObjectType, name: str, depth: int) -> str:
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        text = self._key() + name
        if parent.name.endswith("Checks"):
            text += f"({self._condition(definition, parent, name)})"
        text += self._maybe_directive(0.25)
        if is_leaf_type(named):
            return text
        if depth >= self.max_depth:
            return f"{text} {{ __typename }}"
        return f"{text} {self._selection(named.name, depth + 1)}"

    def _condition(self, definition: object, parent: GraphQLObjectType, name: str) -> str:
        entity = self.schema.get_type(parent.name.removesuffix("Checks"))
        assert isinstance(entity, GraphQLObjectType)
        value_type = entity.fields[name].type
        while isinstance(value_type, GraphQLNonNull):
            value_type = value_type.of_type
        if isinstance(value_type, GraphQLList):
            return self.rng.choice(CONDITIONS["list"])
        named = get_named_type(value_type)
        if isinstance(named, GraphQLObjectType):
            return self.rng.choice(CONDITIONS["reference"])
        return self.rng.choice(CONDITIONS.get(named.name, CONDITIONS["String"]))

    def _key(self) -> str:
        if self.rng.random() < 0.25:
            self.aliases += 1
            if self.rng.random() < 0.4:
                return self.rng.choice(TRICKY_ALIASES) + ": "
            self.counter += 1
            return f"a{self.counter}: "
        return ""

    def _maybe_directive(self, chance: float) -> str:
        return " " + self._directive() if self.rng.random() < chance else ""

    def _directive(self) -> str:
        kind = self.rng.choice(("include", "skip"))
        condition = self.rng.choice(("true", "false", "$inc", "$exc", "$given", "$withheld"))
        if condition == "$inc":
            self.variables["inc"] = "$inc: Boolean = true"
        elif condition == "$exc":
            self.variables["exc"] = "$exc: Boolean = false"
        elif condition == "$given":
            self.variables["given"] = "$given: Boolean!"
            self.values.setdefault("given", self.rng.random() < 0.5)
        elif condition == "$withheld":
            # A default the client may override: sometimes the value sent contradicts it.
            self.variables["withheld"] = "$withheld: Boolean = true"
            if self.rng.random() < 0.3:
                self.values["withheld"] = False
        return f"@{kind}(if: {condition})"

    def _variable_key(self) -> str:
        self.variables["who"] = f'$who: IdNumber = "{ZHANG_WEI}"'
        if self.rng.random() < 0.3:
            self.values["who"] = LI_NA
        return "$who"

    def _fragment(self, type_name: str, selection: str) -> str:
        reusable = [name for name, owner in self.fragment_types.items() if owner == type_name]
        if reusable and self.rng.random() < 0.5:
            return self.rng.choice(reusable)
        name = f"F{len(self.fragments)}"
        self.fragments[name] = f"fragment {name} on {type_name} {{ {selection} }}"
        self.fragment_types[name] = type_name
        return name


def generate(schema: GraphQLSchema, count: int, seed: int) -> list[Document]:
    """``count`` valid documents, the same for the same seed."""
    rng = random.Random(seed)
    documents: list[Document] = []
    for _ in range(count * 20):
        if len(documents) == count:
            break
        builder = _Builder(schema, rng)
        document = builder.document()
        if builder.aliases > 12:
            continue
        if validate(schema, parse(document.text)):
            continue
        documents.append(document)
    assert len(documents) == count, f"only {len(documents)} valid documents from seed {seed}"
    return documents
