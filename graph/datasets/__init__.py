"""Data sets turned into events: the real LastFM HetRec 2011 data and a seeded synthetic shop."""
