"""The recommendation service (paper 2.3-2.5): seeds -> candidates -> ranked, diversified list.

One call per user costs two round trips (the user's actions, the candidate expansion), plus the
catalogue figures once per ``Graph`` and the popular list only when the personal list is short::

    recs = recommend(graph, "u1", settings, n=12)
    recs.to_json()  # {"user_id": "u1", "recommendations": [...]}

A user with no seeds (or fewer candidates than ``n`` after the caps) is filled up from the most
popular videos, each labelled ``because = {"kind": "popular", ...}``.

``graph`` is a Neo4j ``Graph`` or a ``MemoryGraph`` (the same load held in memory, for evaluation
and tuning): the pipeline is the same code, only the four reads differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import InputError, NotFoundError, YtGraphError
from ytgraph.recommendation import reads
from ytgraph.recommendation.candidates import FEATURES, Candidate, check_depth
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.ranking import (
    CapCounts,
    CatalogStats,
    RankedList,
    Recommendation,
    popular_recommendation,
    rank,
)
from ytgraph.recommendation.seeds import Seed, seed_set

MIN_N = 4
MAX_N = 60


def check_n(n: Any) -> int:
    """The list length is a whole number from 4 to 60."""
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_N <= n <= MAX_N:
        raise InputError(f"n must be a whole number from {MIN_N} to {MAX_N}, got {n!r}")
    return n


def list_shape(settings: Settings, n: Any = None, depth: Any = None) -> tuple[int, int]:
    """The checked list length and depth of a request: the arguments, else the settings."""
    return (
        check_n(settings.ranking.n if n is None else n),
        check_depth(settings.candidates.depth if depth is None else depth),
    )


def check_user_id(user_id: Any) -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise InputError(f"a user id must be a non-empty string, got {user_id!r}")
    return user_id


@dataclass
class Recommendations:
    """A user's list, the seeds it grew from, and how much of it popularity had to fill.

    ``cold_start``: the user has no seeds (unknown, or nothing that counts as one), so the whole
    list is the popular one; ``backfilled`` counts popular items, also in a personal list that
    came out shorter than ``n``. The remaining fields are the working of the pipeline, kept for
    ``explain`` and notebooks.
    """

    user_id: str
    recommendations: list[Recommendation]
    seeds: list[Seed]
    known_user: bool = True
    n: int = 12
    depth: int = 2
    touched: frozenset[str] = frozenset()  # every video the user has an action on
    excluded: frozenset[str] = frozenset()  # seeds, and touched videos if exclude_watched
    candidates: list[Candidate] = field(default_factory=list, repr=False)
    ranked: RankedList | None = field(default=None, repr=False)
    # "online": computed by this call; "precomputed": read back from a batch (ytgraph.recommendation.serve),
    # which keeps the list and the seeds but not the working (candidates, ranked, excluded).
    source: str = "online"

    @property
    def cold_start(self) -> bool:
        return not self.seeds

    @property
    def backfilled(self) -> int:
        return sum(1 for r in self.recommendations if r.popular)

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "recommendations": [r.to_json() for r in self.recommendations],
        }


@dataclass
class Failed:
    """One user of ``recommend_many`` that could not be served, and why."""

    user_id: str
    error: YtGraphError

    def to_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "error": str(self.error)}


def backfill(
    graph: Graph | MemoryGraph,
    have: list[Recommendation],
    exclude: Iterable[str],
    stats: CatalogStats,
    settings: Settings,
    n: int,
) -> list[Recommendation]:
    """Popular videos to bring ``have`` up to ``n``, under the channel and category caps.

    One query: ``popular.cypher`` without the excluded and already listed videos, ``pool`` rows
    (at least ``n``) so the caps can pass over some.
    """
    need = n - len(have)
    if need <= 0:
        return []
    ranking = settings.ranking
    skip = set(exclude) | {r.video_id for r in have}
    rows = reads.popular_rows(graph, skip, max(ranking.pool, n))
    # The same caps as the re-rank, counted over the personal list first (a popular video has no
    # seed, so only the channel and category caps can stop it).
    taken = CapCounts()
    for r in have:
        taken.add(r)
    out: list[Recommendation] = []
    for row in rows:
        if len(out) >= need:
            break
        rec = popular_recommendation(row, stats)
        if taken.hits(rec, ranking):
            continue
        taken.add(rec)
        out.append(rec)
    return out


def popular_candidates(
    graph: Graph | MemoryGraph, exclude: Iterable[str], have: Iterable[Candidate], k: int
) -> list[Candidate]:
    """The ``k`` most popular videos that are neither excluded nor candidates already, as
    candidates without paths (``candidates.popular``)."""
    skip = set(exclude) | {c.video_id for c in have}
    return [
        Candidate(
            video_id=r["video_id"],
            title=r.get("title"),
            channel_id=r.get("channel_id"),
            category=r.get("category"),
            features={f: r.get(f) for f in FEATURES},
        )
        for r in reads.popular_rows(graph, skip, k)[:k]
    ]


def _touched(actions: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(a["video_id"] for a in actions if a.get("video_id") is not None)


def recommend(
    graph: Graph | MemoryGraph,
    user_id: str,
    settings: Settings,
    *,
    n: int | None = None,
    depth: int | None = None,
    allow_unknown: bool = False,
) -> Recommendations:
    """The ``n`` best videos for ``user_id`` (default ``settings.ranking.n``), expanding the
    seeds ``depth`` hops (default ``settings.candidates.depth``) over RELATED.

    An unknown user is a ``NotFoundError``, or with ``allow_unknown`` the popular list.
    """
    size, hops = list_shape(settings, n, depth)
    check_user_id(user_id)
    actions = reads.user_actions(graph, user_id)
    known = bool(actions)
    if not known and not allow_unknown:
        raise NotFoundError(f"unknown user {user_id!r}")
    seeds = seed_set(actions, settings.seeds)
    touched = _touched(actions)
    excluded = {s.video_id for s in seeds}
    if settings.candidates.exclude_watched:
        excluded |= touched
    cand_settings = dataclasses.replace(settings.candidates, depth=hops)
    seed_ids = [s.video_id for s in seeds]
    candidates = reads.candidates(graph, seed_ids, cand_settings, excluded)
    stats = reads.catalog_stats(graph)
    if settings.candidates.popular > 0:
        candidates += popular_candidates(graph, excluded, candidates, settings.candidates.popular)
    ranked = rank(candidates, seeds, stats, settings.ranking, size)
    final = list(ranked.recommendations)
    if len(final) < size:
        final += backfill(graph, final, excluded, stats, settings, size)
    for i, rec in enumerate(final, start=1):
        rec.rank = i
    return Recommendations(
        user_id=user_id,
        recommendations=final,
        seeds=seeds,
        known_user=known,
        n=size,
        depth=hops,
        touched=touched,
        excluded=frozenset(excluded),
        candidates=candidates,
        ranked=ranked,
    )


def recommend_many(
    graph: Graph | MemoryGraph,
    user_ids: Iterable[str],
    settings: Settings,
    *,
    n: int | None = None,
    depth: int | None = None,
    allow_unknown: bool = False,
    using: Callable[..., Recommendations] | None = None,
) -> Iterator[Recommendations | Failed]:
    """``recommend`` (or ``using``, e.g. ``serve.serve``, same arguments) for each user in turn over
    the one driver; a user that fails (unknown, a bad id, a failed query) yields a ``Failed`` and
    the others go on. ``n`` and ``depth`` are checked before the first user."""
    size, hops = list_shape(settings, n, depth)
    one = recommend if using is None else using

    def run() -> Iterator[Recommendations | Failed]:
        for user_id in user_ids:
            try:
                yield one(graph, user_id, settings, n=size, depth=hops, allow_unknown=allow_unknown)
            except YtGraphError as e:
                yield Failed(str(user_id), e)

    return run()
