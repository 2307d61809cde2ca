"""govgraph's errors, drawn once.

    GovgraphError
    ├── CatalogError(file, key_path, problem)      stops start-up
    ├── PolicyError(file, entry, problem)          stops start-up
    ├── SourceUnavailable(department)              SOURCE_UNAVAILABLE
    ├── ListingUnsupported(department)             LISTING_UNSUPPORTED
    ├── AuditUnavailable()                         AUDIT_UNAVAILABLE
    ├── AuditStoreError(problem)                   the log, /readyz and the CLI only
    ├── Forbidden(coordinate, reason)              FORBIDDEN
    ├── Unauthenticated(reason)                    UNAUTHENTICATED
    ├── QueryTooComplex(limit, maximum, measured)  QUERY_TOO_COMPLEX
    └── BadUserInput(problem)                      BAD_USER_INPUT

Each error maps to exactly one GraphQL ``extensions.code`` (``code``), and
writes its own message from structured arguments. Messages say what is wrong
and where; they never carry a field value, a token or a connection string.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GovgraphError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code}


class CatalogError(GovgraphError):
    def __init__(self, file: str, key_path: str, problem: str) -> None:
        where = f"{file}: {key_path}" if key_path else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.key_path = key_path
        self.problem = problem


class PolicyError(GovgraphError):
    def __init__(self, file: str, entry: str, problem: str) -> None:
        where = f"{file}: {entry}" if entry else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.entry = entry
        self.problem = problem


class SourceUnavailable(GovgraphError):
    code = "SOURCE_UNAVAILABLE"

    def __init__(self, department: str, reason: str = "unavailable") -> None:
        super().__init__(f"department {department} is {reason}")
        self.department = department
        self.reason = reason

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "department": self.department}


class ListingUnsupported(GovgraphError):
    """A department's API answers by key but cannot list its records: not a failure of the department."""

    code = "LISTING_UNSUPPORTED"

    def __init__(self, department: str) -> None:
        super().__init__(f"department {department} is served by an API that cannot list its records")
        self.department = department

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "department": self.department}


class AuditUnavailable(GovgraphError):
    code = "AUDIT_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("the audit store cannot be written, so this field is withheld")


class AuditStoreError(GovgraphError):
    """What is wrong with the audit store, in the driver's scrubbed words: for operators (the log, /readyz,
    the CLI); a caller only ever sees ``AuditUnavailable``."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"audit store: {problem}")
        self.problem = problem


class Forbidden(GovgraphError):
    code = "FORBIDDEN"

    def __init__(self, coordinate: str, reason: str) -> None:
        super().__init__(f"{coordinate} is not available: {reason}")
        self.coordinate = coordinate
        self.reason = reason

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "coordinate": self.coordinate, "reason": self.reason}


class Unauthenticated(GovgraphError):
    code = "UNAUTHENTICATED"

    def __init__(self, reason: str) -> None:
        super().__init__(f"authentication failed: {reason}")
        self.reason = reason


class QueryTooComplex(GovgraphError):
    code = "QUERY_TOO_COMPLEX"

    def __init__(self, limit: str, maximum: int, measured: int) -> None:
        super().__init__(f"the query's {limit} is {measured}, over the limit of {maximum}")
        self.limit = limit
        self.maximum = maximum
        self.measured = measured

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "limit": self.limit, "maximum": self.maximum, "measured": self.measured}


class BadUserInput(GovgraphError):
    code = "BAD_USER_INPUT"

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
