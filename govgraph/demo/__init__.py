"""The demo city: six synthetic departments, generated from a seed."""

from govgraph.demo.city import DEFAULT_SCALE, DEFAULT_SEED, MIN_SCALE, build_city
from govgraph.demo.writers import generate_sqlite, load_postgres

__all__ = ["DEFAULT_SCALE", "DEFAULT_SEED", "MIN_SCALE", "build_city", "generate_sqlite", "load_postgres"]
