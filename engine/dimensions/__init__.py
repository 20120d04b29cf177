"""The profile's dimensions: each module turns a snapshot (and the models of ``engine.models``)
into the columns of the fields it owns in ``core.profile_contract``; ``profile`` assembles them.
"""
