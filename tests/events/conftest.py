"""Fixtures shared by the change-detection and bus tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from govgraph.demo import load_postgres
from tests.conftest import empty_postgres_database


@pytest.fixture
async def postgres_city() -> AsyncIterator[str]:
    """A small PostgreSQL demo city of the test's own: the session's must not change under other tests."""
    async with empty_postgres_database("govgraph_test_events") as url:
        await load_postgres(url, scale=30, progress=False)
        yield url
