"""What the graph holds, read for people: a video's related list, counts, the most active users.

The CLI's ``related`` and ``stats`` print these; a notebook calls them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError


def related_videos(graph: Graph, video_id: str, n: int = 10) -> list[dict[str, Any]]:
    """R_i of ``video_id``, best first (video_id, title, score, cooccurrences, rank).

    Empty for a known video without a list; NotFoundError for a video the graph does not hold.
    """
    rows = graph.run("related_of", video_id=video_id, n=n)
    # No rows: an unknown video, or one without a list. Only then is a second query needed.
    if not rows and not graph.run("video_exists", video_id=video_id):
        raise NotFoundError(f"unknown video {video_id!r}")
    return rows


@dataclass(frozen=True)
class GraphStats:
    """Nodes by label, relationships by type, and how many videos keep each RELATED out-degree."""

    nodes: dict[str, int]
    relationships: dict[str, int]
    related_degree: dict[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "relationships": self.relationships,
            "related_degree": self.related_degree,
        }


def graph_stats(graph: Graph) -> GraphStats:
    """Counts from Neo4j's count store, and the RELATED out-degree distribution; videos and
    RELATED are counted from the distribution, which leaves out what a running load has staged."""
    counts = graph.run("stats_counts")
    degree = {int(r["degree"]): r["videos"] for r in graph.run("stats_related_degree")}
    nodes = {r["name"]: r["count"] for r in counts if r["kind"] == "node"}
    nodes["Video"] = sum(degree.values())
    rels = {r["name"]: r["count"] for r in counts if r["kind"] == "relationship"}
    return GraphStats(
        nodes=nodes,
        relationships={"RELATED": sum(d * n for d, n in degree.items()), **rels},
        related_degree=degree,
    )


def active_users(graph: Graph, limit: int) -> list[str]:
    """The users with the most watched videos, most first (demos and smoke checks)."""
    return [r["user_id"] for r in graph.run("active_users", limit=limit)]
