"""All of govgraph's configuration, in one pydantic-settings object.

Every setting can be given as a ``GOVGRAPH_*`` environment variable, e.g.
``GOVGRAPH_CATALOG=/etc/govgraph/catalog``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_CATALOG = Path(__file__).parent / "demo" / "catalog"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVGRAPH_", frozen=True, extra="ignore")

    catalog: Path = DEMO_CATALOG
    """The catalog directory: entities.yaml, departments/*.yaml and policy.yaml."""
    graphiql: bool = True
    """Serve GraphiQL to browsers on GET /graphql."""
    readiness_timeout: float = 3.0
    """Seconds /readyz waits for each department."""
