"""The catalog's YAML files as typed, frozen pydantic models.

These mirror the files one to one. ``loader.py`` validates them and
``model.py`` compiles them into the resolved catalog the rest of govgraph
reads.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, StrictBool, model_validator

from govgraph.catalog.frequency import Frequency

Classification = Literal["public", "internal", "conditional", "sensitive", "not_shared", "secret"]
MaskName = Literal["id_number", "name", "address", "amount_band"]
Category = Literal[
    "identity",
    "basic",
    "address",
    "family",
    "income",
    "property",
    "social_security",
    "health",
    "work",
    "tax",
    "location",
    "biometric",
]
"""Which kind of personal data a field carries, after GB/T 35273-2020's categories (Appendix A):
identity (身份证件), basic (个人基本资料), address (住址), family (婚姻与家庭), income (收入),
property (房产等财产), social_security (社保与救助), health (健康生理), work (教育工作),
tax (纳税与信用), location (位置), biometric (生物识别)."""

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
TYPE_REFERENCE = r"^\[?[A-Za-z_][A-Za-z0-9_]*\]?$"


FIELD_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(Spec):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class SqlSourceSpec(Spec):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kind: Literal["sql"]
    url: str = Field(min_length=1)
    db_schema: str | None = Field(default=None, alias="schema")
    timeout: PositiveFloat = 5.0
    stale_if_error: PositiveInt | None = None
    max_concurrency: PositiveInt = 8


class HttpEndpointSpec(Spec):
    """One call of a department's JSON API."""

    path: str = Field(pattern=r"^/")
    """Below the source's ``url``; a lookup's path holds ``{key}`` where the one key goes."""
    method: Literal["GET", "POST"] = "POST"
    keys: str = Field(default="keys", min_length=1)
    """POST: the body's field holding the list of keys; GET: the query parameter, repeated per key."""
    items: str = ""
    """Dotted path to the list of records in the answer (``data.items``); empty: the answer is the list."""


class HttpTableSpec(Spec):
    fetch: HttpEndpointSpec
    """Records by key, for a batch of keys."""
    lookups: dict[str, HttpEndpointSpec] = {}
    """Match column -> the endpoint for one key's records (its path holds ``{key}``)."""
    columns: dict[str, str] = Field(min_length=1)
    """Catalog column -> dotted path of its value within a record (``income.annual``)."""


class HttpAuthSpec(Spec):
    header: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9-]+$")
    scheme: str | None = "Bearer"
    """Written before the secret (``Bearer <secret>``); none: the header is the secret alone."""
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    """The environment variable holding the secret: the catalog never holds it."""


class ChangeWebhookSpec(Spec):
    """How a department behind a service tells govgraph its records changed: it POSTs to
    ``/changes/{department}``, signed Standard Webhooks style with a secret both sides hold."""

    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    """The environment variable holding the shared secret (``whsec_`` and base64): the catalog never holds it."""
    tolerance: PositiveInt = Field(default=300, le=3600)
    """Seconds a call's ``webhook-timestamp`` may be from govgraph's clock: older calls are replays."""


class ServiceSourceSpec(Spec):
    """What every department behind a service (an API, a GraphQL endpoint) shares."""

    url: str = Field(pattern=r"^https?://")
    timeout: PositiveFloat = 5.0
    stale_if_error: PositiveInt | None = None
    max_concurrency: PositiveInt = 8
    retries: int = Field(default=1, ge=0, le=5)
    """Further attempts after a connection failure or a 502, 503 or 504, within the timeout's budget."""
    max_keys_per_request: PositiveInt = 100
    max_response_bytes: PositiveInt = 8 * 1024 * 1024
    auth: HttpAuthSpec | None = None
    changes: ChangeWebhookSpec | None = None
    """Set when the department reports its changes: then its fields can be subscribable."""


class HttpSourceSpec(ServiceSourceSpec):
    kind: Literal["http"]
    tables: dict[str, HttpTableSpec] = Field(min_length=1)


class GraphQLTableSpec(Spec):
    type: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    """The remote entity's ``__typename``."""
    key: str = Field(pattern=IDENTIFIER)
    """The remote entity's key field: each representation is ``{__typename: type, key: <key>}``."""
    columns: dict[str, str] = Field(min_length=1)
    """Catalog column -> dotted path of remote fields (``socialInsurance.contributionMonths``)."""

    @model_validator(mode="after")
    def _paths_are_field_names(self) -> GraphQLTableSpec:
        for column, path in self.columns.items():
            if not all(FIELD_NAME.match(part) for part in path.split(".")):
                raise ValueError(f"columns.{column}: {path!r} is not a dotted path of GraphQL field names")
        return self


class GraphQLSourceSpec(ServiceSourceSpec):
    """A department that is itself a federation subgraph: read through ``_entities``."""

    kind: Literal["graphql"]
    tables: dict[str, GraphQLTableSpec] = Field(min_length=1)


SourceSpec = Annotated[SqlSourceSpec | HttpSourceSpec | GraphQLSourceSpec, Field(discriminator="kind")]


class LookupSpec(Spec):
    table: str = Field(pattern=IDENTIFIER)
    match: str = Field(pattern=IDENTIFIER)
    column: str | None = Field(default=None, pattern=IDENTIFIER)


class ObjectFieldSpec(Spec):
    type: str = Field(pattern=TYPE_REFERENCE)
    column: str = Field(pattern=IDENTIFIER)
    description: Text


class ObjectSpec(Spec):
    description: Text
    fields: dict[str, ObjectFieldSpec] = Field(min_length=1)


class FieldSpec(Spec):
    type: str = Field(pattern=TYPE_REFERENCE)
    column: str | None = Field(default=None, pattern=IDENTIFIER)
    lookup: LookupSpec | None = None
    classification: Classification
    frequency: Frequency | None = None
    cache_ttl: PositiveInt | None = None
    mask: MaskName | None = None
    category: Category | None = None
    """The personal-data category, for fields about persons; ``catalog check`` compares a role's access
    across every field of one category reachable from an entity."""
    subscribable: StrictBool = False
    """Whether a change of its column is recorded in the department's change table (``govgraph.events``)."""
    description: Text

    @model_validator(mode="after")
    def _column_or_lookup(self) -> FieldSpec:
        if self.column and self.lookup:
            raise ValueError("a field has either a column or a lookup, not both")
        if self.type.startswith("[") and not self.lookup:
            raise ValueError("a list field needs a lookup")
        if self.lookup and not self.type.startswith("["):
            raise ValueError("a lookup field must have a list type such as [Property]")
        return self


class EntityPartSpec(Spec):
    table: str = Field(pattern=IDENTIFIER)
    key: str = Field(pattern=IDENTIFIER)
    fields: dict[str, FieldSpec] = Field(min_length=1)


class DepartmentSpec(Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    description: Text | None = None
    source: SourceSpec
    frequency: Frequency
    objects: dict[str, ObjectSpec] = {}
    entities: dict[str, EntityPartSpec] = Field(min_length=1)


class EntitySpec(Spec):
    key: str = Field(pattern=IDENTIFIER)
    key_type: str = Field(pattern=IDENTIFIER)
    description: Text


class EntitiesFileSpec(Spec):
    entities: dict[str, EntitySpec] = Field(min_length=1)
