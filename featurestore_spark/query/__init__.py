"""Queries over feature groups: feature resolution, joins (plain and point in time), filters,
time travel, Spark SQL rendering and a JSON record to read the same rows again.

``resolve`` finds feature groups of features by name, ``Query`` composes them, ``pit`` is the
point-in-time join, ``build`` runs a query as DataFrames or renders it as SQL."""

from .query import Query
from .resolve import resolve

__all__ = ["Query", "resolve"]
