"""profilegraph: social profiles computed by graph neural networks over a Neo4j interaction graph.

The top-level packages split the work: ``graph`` talks to Neo4j, ``engine`` computes on exported
snapshots, ``workers`` wires both into Celery tasks. This package holds what they share: settings,
the error base class, the local service manager and the CLI.
"""

__version__ = "0.1.0"
