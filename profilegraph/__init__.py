"""profilegraph: social profiles computed by graph neural networks over a Neo4j interaction graph.

The top-level packages split the work: ``core`` holds what every layer shares (settings, the
error tree, the profile contract), ``graph`` talks to Neo4j, ``engine`` computes on exported
snapshots, ``jobs`` runs a refresh or an evaluation as plain functions over both, ``workers``
wires those into Celery tasks. This package is the application: the local service manager, the
CLI and the demo.
"""

from core import __version__

__all__ = ["__version__"]
