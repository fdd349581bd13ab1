"""From events to the related graph: sessions, co-visitation counts, R_i, the count state, the load.

The generator of synthetic worlds lives here too: it writes the canonical tables a load reads.
"""
