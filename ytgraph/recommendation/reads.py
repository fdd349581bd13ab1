"""The service's four reads, from Neo4j or from a ``MemoryGraph``: a user's actions, the candidate
expansion, the catalogue figures and the popular list.

The catalogue figures and the head of the popular list are the same for every user, so they are
read once and kept in ``graph.cache`` for as long as the graph stays at the *generation* they were
read from. Every user's first read (``user_actions.cypher``) also returns the generation (the state
id the last load committed), so a long-lived process notices another process's load on the next
request and reads the figures again, at no extra round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ytgraph.config import CandidateSettings
from ytgraph.db.graph import Graph
from ytgraph.recommendation.candidates import Candidate, expand
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.ranking import CatalogStats

POPULAR_HEAD = 1000  # popular videos kept in memory per graph generation, for backfill


def user_actions(graph: Graph | MemoryGraph, user_id: str) -> list[dict[str, Any]]:
    """The user's actions, one dict per (video, kind); empty for an unknown user, and one dict of
    nulls for a known user who did nothing yet."""
    if isinstance(graph, MemoryGraph):
        return graph.user_actions(user_id)
    (row,) = graph.run("user_actions", user_id=user_id)
    keep_generation(graph, row["generation"])
    return list(row["actions"]) if row["known"] else []


def keep_generation(graph: Graph, generation: str | None) -> None:
    """Forget the cached figures when the graph moved on to another generation since they were read."""
    if graph.cache.get("generation") != generation:
        graph.cache.clear()
        graph.cache["generation"] = generation


def candidates(
    graph: Graph | MemoryGraph,
    seeds: Sequence[str],
    settings: CandidateSettings,
    exclude: Iterable[str],
) -> list[Candidate]:
    """The candidate expansion: ``candidates.cypher``, or the same walk in memory."""
    if isinstance(graph, MemoryGraph):
        return graph.expand(seeds, settings, exclude=exclude)
    return expand(graph, seeds, settings, exclude=exclude)


def catalog_stats(graph: Graph | MemoryGraph) -> CatalogStats:
    """The catalogue's figures, read once per graph generation."""
    if isinstance(graph, MemoryGraph):
        return graph.catalog_stats()
    stats = graph.cache.get("catalog_stats")
    if stats is None:
        rows = graph.run("catalog_stats")
        stats = graph.cache["catalog_stats"] = CatalogStats.from_record(rows[0] if rows else {})
    return stats


def popular_rows(graph: Graph | MemoryGraph, skip: set[str], want: int) -> list[dict[str, Any]]:
    """``popular.cypher`` rows without ``skip``, best first: at least ``want`` where the catalogue
    has them. The list is the same for everyone, so its head is read once per generation and
    filtered per user; the server is asked again only for a user who has seen most of it."""
    head = graph.cache.get("popular")
    if head is None:
        head = graph.cache["popular"] = _popular(graph, [], POPULAR_HEAD)
    rows = [r for r in head if r["video_id"] not in skip]
    if len(rows) < want and len(head) == POPULAR_HEAD:
        rows = _popular(graph, sorted(skip), want)
    return rows


def _popular(graph: Graph | MemoryGraph, exclude: list[str], limit: int) -> list[dict[str, Any]]:
    if isinstance(graph, MemoryGraph):
        return graph.popular(exclude, limit)
    return graph.run("popular", exclude=exclude, limit=limit)
