"""The query library: one Cypher query per ``.cypher`` file, loaded by ``graph.queries``.

A package only so that the files install with the wheel (package data).
"""
