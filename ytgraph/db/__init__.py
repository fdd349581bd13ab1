"""Neo4j plumbing: the managed server, the connection, named Cypher, the Browser guide.

Named ``db`` so it never shadows the ``neo4j`` driver package.
"""
