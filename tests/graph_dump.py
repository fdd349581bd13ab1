"""A canonical dump of a whole graph, to hold two ways of loading the same events equal.

Every node with its labels and properties, every relationship with its type, its ends (named by
their labels and properties) and its properties, each as a JSON text, sorted: two graphs with the
same content give the same dump whatever their internal ids or the order things were written in.
Floats are kept exactly (repr), so a value that does not round-trip shows. The meta node's
bookkeeping (``state_id``, ``updated_at``: a new id and time on every load) is left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ytgraph.db.graph import Graph

_SKIP = {"YtgraphMeta": {"state_id", "updated_at"}}


def _node(labels: list[str], props: dict[str, Any]) -> str:
    skip = set().union(*(_SKIP.get(label, set()) for label in labels))
    kept = {k: v for k, v in props.items() if k not in skip}
    return json.dumps([sorted(labels), kept], sort_keys=True, default=repr)


def dump(graph: Graph) -> tuple[list[str], list[str]]:
    """(nodes, relationships) of the graph as sorted canonical texts."""
    nodes, _, _ = graph.driver.execute_query(
        "MATCH (n) RETURN labels(n) AS l, properties(n) AS p", database_=graph.database
    )
    rels, _, _ = graph.driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS t, labels(a) AS al, properties(a) AS a, "
        "labels(b) AS bl, properties(b) AS b, properties(r) AS p",
        database_=graph.database,
    )
    node_texts = sorted(_node(r["l"], r["p"]) for r in nodes)
    rel_texts = sorted(
        json.dumps(
            [r["t"], _node(r["al"], r["a"]), _node(r["bl"], r["b"]), r["p"]],
            sort_keys=True,
            default=repr,
        )
        for r in rels
    )
    return node_texts, rel_texts


def digest(graph: Graph) -> str:
    """A sha256 of ``dump``: equal graphs, equal digests."""
    nodes, rels = dump(graph)
    h = hashlib.sha256()
    for text in (*nodes, "--", *rels):
        h.update(text.encode())
        h.update(b"\n")
    return h.hexdigest()
