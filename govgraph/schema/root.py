"""Root fields: one entity by key, many by keys, and the public enterprise directory.

No ``from __future__ import annotations`` here: strawberry must see the
locally built connection types as real classes.
"""

import base64
import binascii
import inspect
from typing import Any, Optional

import strawberry

from govgraph.catalog.model import Catalog, Entity
from govgraph.errors import BadUserInput
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.entities import EntityLoader
from govgraph.schema.scalars import PYTHON_TYPES

MAX_KEYS = 1000
"""Keys one list field takes unless the app says otherwise (``GOVGRAPH_MAX_KEYS``)."""
MAX_PAGE = 100


def singular(entity: Entity) -> str:
    return entity.name[0].lower() + entity.name[1:]


def plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def entity_root_fields(catalog: Catalog) -> dict[str, str]:
    """Root field name → the entity it looks up; authorization treats each as a lookup by key."""
    names = {}
    for entity in catalog.entities.values():
        names[singular(entity)] = entity.name
        names[plural(singular(entity))] = entity.name
    if "Enterprise" in catalog.entities:
        names["enterpriseDirectory"] = "Enterprise"
    return names


def root_fields(
    catalog: Catalog, entities: EntityLoader, classes: dict[str, type], max_keys: int = MAX_KEYS
) -> list[Any]:
    fields = []
    for entity in catalog.entities.values():
        fields.append(_one(entities, entity, classes[entity.name]))
        fields.append(_many(entities, entity, classes[entity.name], max_keys))
    if "Enterprise" in catalog.entities:
        fields.append(_directory(catalog, entities, classes["Enterprise"]))
    return fields


def _one(entities: EntityLoader, entity: Entity, cls: type) -> Any:
    name, key_type = entity.name, PYTHON_TYPES[entity.key_type]

    async def resolve(info: strawberry.Info, **arguments: Any) -> Any:
        (key,) = arguments.values()
        return (await entities.load(info._raw_info, name, [key], in_list=False))[0]

    resolve.__name__ = singular(entity)
    _set_signature(resolve, entity.key_field, key_type, Optional[cls])
    return strawberry.field(
        resolver=resolve,
        name=singular(entity),
        description=f"One {entity.name} by `{entity.key_field}`, or null when no such record exists.",
    )


def _many(entities: EntityLoader, entity: Entity, cls: type, max_keys: int) -> Any:
    name, key_type = entity.name, PYTHON_TYPES[entity.key_type]
    argument = plural(entity.key_field)

    async def resolve(info: strawberry.Info, **arguments: Any) -> list[Any]:
        (keys,) = arguments.values()
        if len(keys) > max_keys:
            raise BadUserInput(f"{argument} takes at most {max_keys} keys, got {len(keys)}")
        return await entities.load(info._raw_info, name, keys, in_list=True)

    resolve.__name__ = plural(singular(entity))
    # Nullable, like every field that can be denied: a denied lookup must not blank the whole response.
    _set_signature(resolve, argument, list[key_type], Optional[list[Optional[cls]]])
    return strawberry.field(
        resolver=resolve,
        name=plural(singular(entity)),
        description=(
            f"Several {entity.name} records by `{argument}` (at most {max_keys}), in the order asked; "
            "null where no such record exists."
        ),
    )


def _set_signature(function: Any, argument: str, argument_type: Any, return_type: Any) -> None:
    """Give a generated resolver the argument name the catalog chose (``idNumber``, ``creditCodes``)."""
    function.__annotations__ = {"info": strawberry.Info, argument: argument_type, "return": return_type}
    function.__signature__ = inspect.Signature(
        [
            inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info),
            inspect.Parameter(argument, inspect.Parameter.KEYWORD_ONLY, annotation=argument_type),
        ],
        return_annotation=return_type,
    )


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool = strawberry.field(name="hasNextPage")
    end_cursor: Optional[str] = strawberry.field(name="endCursor")


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(f"key:{key}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput("after is not a cursor returned by this field") from None
    if not text.startswith("key:"):
        raise BadUserInput("after is not a cursor returned by this field")
    return text[4:]


def _directory(catalog: Catalog, entities: EntityLoader, enterprise_cls: type) -> Any:
    entity = catalog.entities["Enterprise"]
    home = entity.home
    status_column = entity.fields["status"].column if "status" in entity.fields else None

    @strawberry.type(name="EnterpriseEdge", description="One enterprise in the directory.")
    class EnterpriseEdge:
        cursor: str
        node: Optional[enterprise_cls]  # type: ignore[valid-type]

    @strawberry.type(name="EnterpriseConnection", description="A page of the public enterprise directory.")
    class EnterpriseConnection:
        edges: list[EnterpriseEdge]
        page_info: PageInfo = strawberry.field(name="pageInfo")

    async def resolve(
        info: strawberry.Info,
        first: int = 20,
        after: str | None = None,
        status: Optional[str] = None,
    ) -> EnterpriseConnection:
        if not 1 <= first <= MAX_PAGE:
            raise BadUserInput(f"first must be between 1 and {MAX_PAGE}, got {first}")
        context: RequestContext = info.context
        start = decode_cursor(after) if after is not None else None
        equals = {status_column: status} if status is not None and status_column else {}
        keys = await context.loaders.scan(
            entity.home_department, home.table, home.key_column, equals=equals, after=start, limit=first + 1
        )
        page = keys[:first]
        if not page:
            return EnterpriseConnection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None))
        raw = info._raw_info
        base = tuple(raw.path.as_list())
        collection = context.collection
        connection_type, edge_type = (
            raw.schema.get_type("EnterpriseConnection"),
            raw.schema.get_type("EnterpriseEdge"),
        )
        node_keys: list[tuple[str, str]] = []
        node_nodes: list[Any] = []
        for edges_key, edges in collection.subfields_of_nodes(connection_type, raw.field_nodes).items():
            if edges[0].node.name.value != "edges":
                continue
            for node_key, nodes in collection.subfields(edge_type, edges).items():
                if nodes[0].node.name.value == "node":
                    node_keys.append((edges_key, node_key))
                    node_nodes.extend(detail.node for detail in nodes)
        paths = [
            tuple((*base, edges_key, index, node_key) for edges_key, node_key in node_keys)
            for index in range(len(page))
        ]
        nodes = (
            await entities.load(
                raw, entity.name, page, in_list=True, item_paths=paths, field_nodes=node_nodes
            )
            if node_nodes
            else [None] * len(page)
        )
        edges = [
            EnterpriseEdge(cursor=encode_cursor(key), node=node)
            for key, node in zip(page, nodes, strict=False)
        ]
        return EnterpriseConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(keys) > first, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    resolve.__name__ = "enterpriseDirectory"
    resolve.__annotations__ = {
        "info": strawberry.Info,
        "first": int,
        "after": Optional[str],
        "status": Optional[str],
        "return": EnterpriseConnection,
    }
    return strawberry.field(
        resolver=resolve,
        name="enterpriseDirectory",
        description=(
            "The public enterprise directory, ordered by credit code and paginated by cursor "
            f"(`first` at most {MAX_PAGE}); `status` filters by registration status, e.g. 存续."
        ),
    )
