"""From a user to a ranked, explained list: seeds, candidate expansion, ranking, the service.

``service`` runs one user (online), ``serve`` batches and serves stored lists, ``explain`` says why;
``memory`` holds the graph a load would write in memory so the same service runs without Neo4j.
"""
