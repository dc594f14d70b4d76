"""A namespace for the operator, kwok GPU nodes of its own pool, and operator processes that
the tests kill and restart."""

from integration.operator_namespace import api, nodes, operator, pool, stem

__all__ = ["api", "nodes", "operator", "pool", "stem"]
