"""Oversight over govgraph's own records: ``auditLog``, ``usage`` and ``myAccessLog``.

Only a grant opens them (``Query.auditLog`` and ``Query.usage`` for the
auditor, ``Query.myAccessLog`` for citizens); the authorization plan
decides them like any field coordinate.
"""

import base64
import binascii
import datetime
from enum import Enum
from typing import Annotated, Any, Optional

import strawberry

from govgraph.audit.store import AuditFilter, AuditStore, StoredRecord
from govgraph.auth.policy import Policy
from govgraph.errors import AuditUnavailable, BadUserInput, Forbidden
from govgraph.identifiers import validate_id_number
from govgraph.resolvers.context import RequestContext
from govgraph.schema.root import PageInfo

MAX_AUDIT_PAGE = 200


@strawberry.type(description="An entity whose record a request read, and from which provider.")
class AuditEntity:
    type: str
    key: str
    department: str
    served_from: str = strawberry.field(name="servedFrom")


@strawberry.type(description="A field coordinate a request asked for, and what was decided.")
class AuditField:
    coordinate: str
    department: str
    classification: str
    decision: str = strawberry.field(description="read, mask, verify or deny")


@strawberry.type(description="One audited request.")
class AuditEntry:
    position: int = strawberry.field(description="Its place in the hash chain.")
    request_id: str = strawberry.field(name="requestId")
    occurred_at: str = strawberry.field(name="occurredAt")
    subject: Optional[str]
    department: Optional[str]
    roles: list[str]
    purpose: Optional[str]
    operation_name: Optional[str] = strawberry.field(name="operationName")
    document_hash: str = strawberry.field(name="documentHash")
    client_address: Optional[str] = strawberry.field(name="clientAddress")
    entities: list[AuditEntity]
    fields: list[AuditField]
    record_hash: str = strawberry.field(name="recordHash")
    previous_hash: str = strawberry.field(name="previousHash")
    delivery: Optional[str] = strawberry.field(
        default=None, description="The subscription a change was delivered to (sub_...); null for a query."
    )


@strawberry.type(description="A page of the audit log, newest first.")
class AuditPage:
    entries: list[AuditEntry]
    page_info: PageInfo = strawberry.field(name="pageInfo")


@strawberry.input(description="Narrows the audit log; all given conditions must hold.")
class AuditLogFilter:
    subject: Optional[str] = None
    department: Optional[str] = None
    entity_key: Optional[str] = strawberry.field(default=None, name="entityKey")
    field: Optional[str] = strawberry.field(
        default=None, description="A field coordinate, e.g. Person.annualIncome"
    )
    purpose: Optional[str] = None
    occurred_from: Optional[datetime.datetime] = strawberry.field(default=None, name="from")
    occurred_to: Optional[datetime.datetime] = strawberry.field(default=None, name="to")


@strawberry.enum(description="A dimension to break usage down by.")
class UsageDimension(Enum):
    PROVIDER = "provider"
    CONSUMER = "consumer"
    FIELD = "field"
    PURPOSE = "purpose"
    SERVED_FROM = "servedFrom"


@strawberry.type(
    description=(
        "Usage of shared data, for crediting providers: records (requests), fieldsServed (field coordinates "
        "released per request) and entitiesServed (entity records read for them); cache hits count too."
    )
)
class UsageRow:
    provider: Optional[str] = None
    consumer: Optional[str] = None
    field: Optional[str] = None
    purpose: Optional[str] = None
    served_from: Optional[str] = strawberry.field(default=None, name="servedFrom")
    records: int = 0
    fields_served: int = strawberry.field(default=0, name="fieldsServed")
    entities_served: int = strawberry.field(default=0, name="entitiesServed")
    deliveries: int = strawberry.field(
        default=0,
        description="Of the records, how many were change notifications delivered to subscriptions.",
    )


@strawberry.type(description="One access to the caller's own record.")
class AccessLogEntry:
    occurred_at: str = strawberry.field(name="occurredAt")
    department: Optional[str] = strawberry.field(description="The department that asked.")
    roles: list[str]
    purpose: Optional[str]
    fields: list[AuditField] = strawberry.field(
        description="Fields of persons' records the request asked for."
    )
    notification: bool = strawberry.field(
        default=False,
        description="True when the department was notified of a change to your record (a subscription), "
        "not asking a question.",
    )


def _iso(moment: datetime.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entry(stored: StoredRecord) -> AuditEntry:
    record = stored.record
    return AuditEntry(
        position=stored.position,
        request_id=record.request_id,
        occurred_at=record.occurred_at,
        subject=record.subject,
        department=record.department,
        roles=list(record.roles),
        purpose=record.purpose,
        operation_name=record.operation_name,
        document_hash=record.document_hash,
        client_address=record.client_address,
        entities=[
            AuditEntity(type=e.type, key=key, department=e.department, served_from=e.served_from)
            for e in record.entities
            for key in e.keys
        ],
        fields=[_field(item) for item in record.fields],
        record_hash=stored.record_hash,
        previous_hash=stored.previous_hash,
        delivery=record.delivery,
    )


def _field(item: Any) -> AuditField:
    return AuditField(
        coordinate=item.coordinate,
        department=item.department,
        classification=item.classification,
        decision=item.decision,
    )


def _store(info: strawberry.Info) -> AuditStore:
    context: RequestContext = info.context
    if context.audit is None:
        raise AuditUnavailable()
    return context.audit


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{position}".encode()).decode()


def _position(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "audit":
            raise ValueError
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput("after is not a cursor returned by auditLog") from None


def oversight_fields(policy: Policy) -> list[Any]:
    async def audit_log(
        info: strawberry.Info,
        filter: Optional[AuditLogFilter] = None,
        first: int = 20,
        after: Optional[str] = None,
    ) -> AuditPage:
        if not 1 <= first <= MAX_AUDIT_PAGE:
            raise BadUserInput(f"first must be between 1 and {MAX_AUDIT_PAGE}, got {first}")
        given = filter or AuditLogFilter()
        where = AuditFilter(
            subject=given.subject,
            department=given.department,
            entity_key=given.entity_key,
            field=given.field,
            purpose=given.purpose,
            occurred_from=_iso(given.occurred_from),
            occurred_to=_iso(given.occurred_to),
        )
        rows = await _store(info).query(where, first + 1, _position(after) if after else None)
        entries = [_entry(stored) for stored in rows[:first]]
        end = _cursor(entries[-1].position) if entries else None
        return AuditPage(entries=entries, page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end))

    async def usage(
        info: strawberry.Info,
        occurred_from: Annotated[Optional[datetime.datetime], strawberry.argument(name="from")] = None,
        occurred_to: Annotated[Optional[datetime.datetime], strawberry.argument(name="to")] = None,
        group_by: Annotated[Optional[list[UsageDimension]], strawberry.argument(name="groupBy")] = None,
    ) -> list[UsageRow]:
        chosen = group_by if group_by is not None else [UsageDimension.PROVIDER, UsageDimension.CONSUMER]
        dimensions = list(dict.fromkeys(dimension.value for dimension in chosen))
        rows = await _store(info).usage(_iso(occurred_from), _iso(occurred_to), dimensions)
        return [
            UsageRow(
                provider=row.get("provider"),
                consumer=row.get("consumer"),
                field=row.get("field"),
                purpose=row.get("purpose"),
                served_from=row.get("servedFrom"),
                records=int(row["records"]),
                fields_served=int(row["fieldsServed"]),
                entities_served=int(row["entitiesServed"]),
                deliveries=int(row["deliveries"]),
            )
            for row in rows
        ]

    async def my_access_log(info: strawberry.Info, first: int = 50) -> list[AccessLogEntry]:
        context: RequestContext = info.context
        subject = context.principal.subject or ""
        try:
            validate_id_number(subject)
        except ValueError:
            raise Forbidden("Query.myAccessLog", "the subject is not a resident ID number") from None
        if not 1 <= first <= MAX_AUDIT_PAGE:
            raise BadUserInput(f"first must be between 1 and {MAX_AUDIT_PAGE}, got {first}")
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        embargoed = {embargo.purpose for embargo in policy.embargoes if today < embargo.until}
        records = await _store(info).access_log("Person", subject, first, hide_purposes=sorted(embargoed))
        return [
            AccessLogEntry(
                occurred_at=stored.record.occurred_at,
                department=stored.record.department,
                roles=list(stored.record.roles),
                purpose=stored.record.purpose,
                fields=[
                    _field(item) for item in stored.record.fields if item.coordinate.startswith("Person.")
                ],
                notification=stored.record.delivery is not None,
            )
            for stored in records
        ]

    return [
        strawberry.field(
            resolver=audit_log,
            name="auditLog",
            description="The audit log, newest first, paginated by cursor. Auditors only.",
        ),
        strawberry.field(
            resolver=usage,
            name="usage",
            description="Usage of shared data by provider, consumer, field, purpose and where it was served from.",
        ),
        strawberry.field(
            resolver=my_access_log,
            name="myAccessLog",
            description=(
                "For a citizen: which department and role read your record, when, for what purpose and which "
                "fields. Officers' personal ids are not shown; embargoed purposes appear after their embargo."
            ),
        ),
    ]
