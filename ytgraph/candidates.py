"""Candidate generation (paper 2.3): expand the seed set over RELATED, keeping every path.

``expand`` runs the one Cypher query (``cypher/candidates.cypher``); ``expand_reference`` does the same
expansion over a networkx graph, as the independent reference the tests hold Cypher to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import networkx as nx

from ytgraph.config import CandidateSettings
from ytgraph.errors import InputError
from ytgraph.graph import Graph

MAX_DEPTH = 4
FEATURES = (
    "views",
    "likes",
    "favorites",
    "comments",
    "rating_avg",
    "rating_count",
    "uploaded_at",
    "sessions",
)


@dataclass(frozen=True)
class Path:
    """One seed → candidate path: the videos in order (seed first) and each edge's score and weight."""

    seed: str
    videos: tuple[str, ...]
    scores: tuple[float, ...]
    weights: tuple[float, ...]

    @property
    def depth(self) -> int:
        return len(self.videos) - 1

    @property
    def strength(self) -> float:
        """Product of the edge weights (each edge's score relative to the best in its list)."""
        out = 1.0
        for w in self.weights:
            out *= w
        return out


@dataclass
class Candidate:
    """A video reachable from the seeds, its quality fields, and every path that reaches it."""

    video_id: str
    title: str | None = None
    channel_id: str | None = None
    category: str | None = None
    features: dict[str, float | None] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)

    @property
    def best_strength(self) -> float:
        return max((p.strength for p in self.paths), default=0.0)


def check_depth(depth: int) -> int:
    """The depth is a validated integer from 1 to 4; it picks query branches, never query text."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise InputError(f"depth must be a whole number from 1 to {MAX_DEPTH}, got {depth!r}")
    return depth


def candidate_from_record(rec: dict[str, Any]) -> Candidate:
    paths = [
        Path(p["seed"], tuple(p["path"]), tuple(p["scores"]), tuple(p["weights"]))
        for p in rec.get("paths") or []
    ]
    paths.sort(key=lambda p: (-p.strength, p.videos))
    return Candidate(
        video_id=rec["video_id"],
        title=rec.get("title"),
        channel_id=rec.get("channel_id"),
        category=rec.get("category"),
        features={k: rec.get(k) for k in FEATURES},
        paths=paths,
    )


def expand(
    graph: Graph,
    seeds: Sequence[str],
    settings: CandidateSettings,
    exclude: Iterable[str] = (),
) -> list[Candidate]:
    """C_depth: candidates by best path strength (ties by id), at most ``max_candidates``."""
    depth = check_depth(settings.depth)
    if not seeds:
        return []
    records = graph.run(
        "candidates",
        seeds=list(seeds),
        exclude=sorted(set(exclude)),
        depth=depth,
        k=int(settings.per_hop),
        max_candidates=int(settings.max_candidates),
    )
    return [candidate_from_record(r) for r in records]


def expand_reference(
    related: nx.DiGraph,
    seeds: Sequence[str],
    settings: CandidateSettings,
    exclude: Iterable[str] = (),
) -> dict[str, list[Path]]:
    """The same expansion by brute force over a networkx DiGraph whose edges carry score, weight, rank.

    Returns {candidate: paths sorted by (-strength, videos)}, capped like ``expand``.
    """
    depth = check_depth(settings.depth)
    banned = set(seeds) | set(exclude)
    found: dict[str, list[Path]] = {}
    for seed in dict.fromkeys(seeds):
        if seed not in related:
            continue
        stack: list[tuple[str, ...]] = [(seed,)]
        while stack:
            walk = stack.pop()
            if len(walk) > 1 and walk[-1] not in banned:
                edges = [related.edges[a, b] for a, b in pairwise(walk)]
                found.setdefault(walk[-1], []).append(
                    Path(
                        seed,
                        walk,
                        tuple(e["score"] for e in edges),
                        tuple(e["weight"] for e in edges),
                    )
                )
            if len(walk) - 1 == depth:
                continue
            for nxt in related.successors(walk[-1]):
                if related.edges[walk[-1], nxt]["rank"] <= settings.per_hop and nxt not in walk:
                    stack.append((*walk, nxt))
    for paths in found.values():
        paths.sort(key=lambda p: (-p.strength, p.videos))
    order = sorted(found, key=lambda c: (-found[c][0].strength, c))[: settings.max_candidates]
    return {c: found[c] for c in order}
