"""Install the change table and triggers into a demo department's database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from govgraph.catalog.model import Catalog
from govgraph.events.triggers import change_sql


def install_sqlite(connection: sa.Connection, catalog: Catalog, department: str) -> None:
    for statement in change_sql(catalog, department, "sqlite"):
        # exec_driver_sql: the DDL has no parameters, so nothing in it may be read as one.
        connection.exec_driver_sql(statement)


async def install_postgres(
    connection: AsyncConnection, catalog: Catalog, department: str, schema: str | None = None
) -> None:
    for statement in change_sql(catalog, department, "postgresql", schema):
        await connection.exec_driver_sql(statement)
