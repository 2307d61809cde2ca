"""``me`` and ``catalog``: what the caller is, and what the caller may see.

The catalog is the platform's resource directory (principle 8), filtered
per caller: a field appears only when this principal, with this purpose,
would get something other than a denial.
"""

from typing import Any, Optional

import strawberry

from govgraph.auth.decisions import Authorizer
from govgraph.catalog.model import Catalog, CatalogField
from govgraph.resolvers.context import RequestContext


@strawberry.type(description="Text in Chinese and English.")
class LocalizedText:
    zh: str
    en: str


@strawberry.type(description="A grant of the caller's effective roles, as the policy states it.")
class GrantInfo:
    role: str
    fields: list[str]
    mode: str
    purposes: Optional[list[str]] = None


@strawberry.type(description="What the caller gets for one field coordinate with the request's purpose.")
class FieldAccess:
    coordinate: str
    access: str = strawberry.field(description="read, mask or verify")


@strawberry.type(description="The caller: principal, purpose and effective grants.")
class Me:
    authenticated: bool
    subject: Optional[str]
    department: Optional[str]
    roles: list[str] = strawberry.field(description="Roles the token claims.")
    effective_roles: list[str] = strawberry.field(
        name="effectiveRoles", description="Claimed roles that belong to the caller's department."
    )
    purpose: Optional[str]
    grants: list[GrantInfo]
    access: list[FieldAccess] = strawberry.field(
        description="Every field coordinate the caller may use now, and how."
    )


@strawberry.type(description="A field in the resource directory.")
class CatalogFieldInfo:
    coordinate: str
    name: str
    type: str
    department: str
    classification: str
    frequency: str
    cache_ttl: int | None = strawberry.field(name="cacheTtl", description="Seconds; null means always live.")
    description: LocalizedText
    access: str = strawberry.field(description="What the caller gets: read, mask or verify.")


@strawberry.type(description="A shared entity in the resource directory.")
class CatalogEntity:
    name: str
    key: str
    description: LocalizedText
    fields: list[CatalogFieldInfo]


@strawberry.type(description="A providing department in the resource directory.")
class CatalogDepartment:
    id: str
    name: LocalizedText
    frequency: str
    fields: list[str] = strawberry.field(
        description="Coordinates of the fields it provides that the caller may see."
    )


@strawberry.type(description="The resource directory, filtered to what the caller may see.")
class CatalogDirectory:
    departments: list[CatalogDepartment]
    entities: list[CatalogEntity]


def _text(text: Any) -> LocalizedText:
    return LocalizedText(zh=text.zh, en=text.en)


def _visible(context: RequestContext, catalog: Catalog) -> list[tuple[CatalogField, str]]:
    authorizer: Authorizer | None = context.authorizer
    visible = []
    for catalog_field in catalog.fields():
        access = (
            authorizer.decide(context.principal, catalog_field.coordinate).access if authorizer else "read"
        )
        if access != "deny":
            visible.append((catalog_field, access))
    return visible


def discovery_fields(catalog: Catalog) -> list[Any]:
    def me(info: strawberry.Info) -> Me:
        context: RequestContext = info.context
        principal = context.principal
        authorizer: Authorizer | None = context.authorizer
        roles = authorizer.effective_roles(principal) if authorizer else []
        grants = [
            GrantInfo(
                role=role.name,
                fields=sorted(grant.coordinates),
                mode=grant.mode,
                purposes=sorted(grant.purposes) if grant.purposes is not None else None,
            )
            for role in roles
            for grant in role.grants
        ]
        access = [
            FieldAccess(coordinate=field.coordinate, access=level)
            for field, level in _visible(context, catalog)
        ]
        if authorizer is not None:
            access.extend(
                FieldAccess(coordinate=operation, access="read")
                for operation in sorted(authorizer.operations)
                if authorizer.decide(principal, operation).allowed
            )
        return Me(
            authenticated=principal.authenticated,
            subject=principal.subject,
            department=principal.department,
            roles=list(principal.roles),
            effective_roles=[role.name for role in roles],
            purpose=principal.purpose,
            grants=grants,
            access=access,
        )

    def catalog_directory(info: strawberry.Info) -> CatalogDirectory:
        context: RequestContext = info.context
        visible = _visible(context, catalog)
        entities = []
        for entity in catalog.entities.values():
            fields = [
                CatalogFieldInfo(
                    coordinate=field.coordinate,
                    name=field.name,
                    type=str(field.type),
                    department=field.department,
                    classification=field.classification,
                    frequency=field.frequency,
                    cache_ttl=field.ttl,
                    description=_text(field.description),
                    access=access,
                )
                for field, access in visible
                if field.entity == entity.name
            ]
            if fields:
                entities.append(
                    CatalogEntity(
                        name=entity.name,
                        key=entity.key_field,
                        description=_text(entity.description),
                        fields=fields,
                    )
                )
        departments = [
            CatalogDepartment(
                id=department.id,
                name=_text(department.name),
                frequency=department.frequency,
                fields=[field.coordinate for field, _ in visible if field.department == department.id],
            )
            for department in catalog.departments.values()
            if any(field.department == department.id for field, _ in visible)
        ]
        return CatalogDirectory(departments=departments, entities=entities)

    return [
        strawberry.field(
            resolver=me, name="me", description="The caller's principal, purpose and effective grants."
        ),
        strawberry.field(
            resolver=catalog_directory,
            name="catalog",
            description="The resource directory: departments, entities and fields the caller may see.",
        ),
    ]
