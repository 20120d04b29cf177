"""The foundation every layer may import: settings, the error tree, the profile contract.

Nothing here imports from ``graph``, ``engine``, ``jobs``, ``workers`` or ``profilegraph``.
"""

__version__ = "0.1.0"
