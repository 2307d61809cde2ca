"""NOTIFY triggers for the demo's PostgreSQL departments.

Every table govgraph reads gets a row trigger that announces, on channel
``govgraph_invalidate``, which department, entity and key changed, so
listening govgraph processes drop those cache entries at once. Which
(table, column, entity) to announce comes from the catalog.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from govgraph.catalog.model import Catalog

FUNCTION = """
CREATE OR REPLACE FUNCTION "{schema}".govgraph_notify() RETURNS trigger AS $$
DECLARE
  changed jsonb := to_jsonb(COALESCE(NEW, OLD));
BEGIN
  PERFORM pg_notify('govgraph_invalidate', json_build_object(
    'department', TG_TABLE_SCHEMA, 'entity', TG_ARGV[0], 'key', changed ->> TG_ARGV[1])::text);
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> TG_ARGV[1]) IS DISTINCT FROM (changed ->> TG_ARGV[1]) THEN
    PERFORM pg_notify('govgraph_invalidate', json_build_object(
      'department', TG_TABLE_SCHEMA, 'entity', TG_ARGV[0], 'key', to_jsonb(OLD) ->> TG_ARGV[1])::text);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def announcements(catalog: Catalog, department: str) -> list[tuple[str, str, str]]:
    """(table, key column, entity) for every way govgraph looks rows up in this department."""
    found: set[tuple[str, str, str]] = set()
    for entity in catalog.entities.values():
        part = entity.parts.get(department)
        if part is not None:
            found.add((part.table, part.key_column, entity.name))
        for catalog_field in entity.fields.values():
            if catalog_field.department == department and catalog_field.lookup is not None:
                found.add((catalog_field.lookup.table, catalog_field.lookup.match, entity.name))
    return sorted(found)


async def install_triggers(connection: AsyncConnection, catalog: Catalog, department: str) -> int:
    await connection.execute(sa.text(FUNCTION.format(schema=department)))
    installed = 0
    for table, column, entity in announcements(catalog, department):
        name = f"govgraph_notify_{column}"
        await connection.execute(sa.text(f'DROP TRIGGER IF EXISTS "{name}" ON "{department}"."{table}"'))
        await connection.execute(
            sa.text(
                f'CREATE TRIGGER "{name}" AFTER INSERT OR UPDATE OR DELETE ON "{department}"."{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION \"{department}\".govgraph_notify('{entity}', '{column}')"
            )
        )
        installed += 1
    return installed
