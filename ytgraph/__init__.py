"""ytgraph: video recommendations after YouTube's 2010 design, on Neo4j.

Watch sessions become co-visitation counts, counts become a related-video graph in
Neo4j, a user's seed set is expanded over that graph in Cypher, and Python ranks
and explains what it found.
"""

__version__ = "0.1.0"
