"""govgraph: a GraphQL federated query service over government department data."""

from govgraph.auth.policy import load_policy
from govgraph.catalog.loader import load_catalog
from govgraph.server import create_app
from govgraph.settings import Settings

__all__ = ["Settings", "create_app", "load_catalog", "load_policy"]
