"""Candidate generation (paper 2.3): expand the seed set over RELATED, keeping every path.

``expand`` runs the one Cypher query (``cypher/candidates.cypher``); the tests hold it to a brute
force expansion over networkx (``tests/reference.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from ytgraph.config import CandidateSettings
from ytgraph.db.graph import Graph
from ytgraph.errors import InputError

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


# Not frozen: a frozen dataclass's __init__ costs three times as much, and a request builds
# hundreds of paths. Nothing in ytgraph changes a CandidatePath once made.
@dataclass(slots=True)
class CandidatePath:
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
        return math.prod(self.weights)


def path_order(p: CandidatePath) -> tuple[float, tuple[str, ...]]:
    """How paths are listed everywhere: strongest first, ties by the videos."""
    return (-p.strength, p.videos)


class PathList(Sequence[CandidatePath]):
    """A candidate's paths, strongest first (ties by the videos), made into ``CandidatePath``s only
    when someone looks at them.

    The ranking reads only each path's seed, depth and strength: the lists ``seeds``,
    ``depths`` and ``strengths``. They are in the order the paths ARRIVED, not in ``path_order``
    (``paths.seeds[i]`` is not ``paths[i].seed``); read them whole. A request ranks hundreds of
    candidates and shows a dozen, so most paths are never built.
    """

    __slots__ = ("_paths", "_raw", "depths", "seeds", "strengths")

    def __init__(
        self,
        videos: Sequence[Sequence[str]] = (),
        scores: Sequence[Sequence[float]] = (),
        weights: Sequence[Sequence[float]] = (),
    ) -> None:
        self.seeds: list[str] = [v[0] for v in videos]
        self.depths: list[int] = [len(v) - 1 for v in videos]
        self.strengths: list[float] = [math.prod(w) for w in weights]
        self._raw = (videos, scores, weights)
        self._paths: list[CandidatePath] | None = None

    @classmethod
    def of(cls, paths: Iterable[CandidatePath]) -> PathList:
        given = list(paths)
        return cls([p.videos for p in given], [p.scores for p in given], [p.weights for p in given])

    @property
    def score_strengths(self) -> list[float]:
        """Each path's product of edge scores (not weights), in arrival order like ``strengths``."""
        return [math.prod(x) for x in self._raw[1]]

    def _built(self) -> list[CandidatePath]:
        if self._paths is None:
            videos, scores, weights = self._raw
            # path_order, from the strengths already computed
            order = sorted(range(len(videos)), key=lambda i: (-self.strengths[i], tuple(videos[i])))
            self._paths = [
                CandidatePath(videos[i][0], tuple(videos[i]), tuple(scores[i]), tuple(weights[i]))
                for i in order
            ]
        return self._paths

    @overload
    def __getitem__(self, i: int) -> CandidatePath: ...
    @overload
    def __getitem__(self, i: slice) -> list[CandidatePath]: ...
    def __getitem__(self, i: int | slice) -> CandidatePath | list[CandidatePath]:
        return self._built()[i]

    def __iter__(self) -> Iterator[CandidatePath]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self.seeds)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathList):
            return self._built() == other._built()
        return isinstance(other, list) and self._built() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PathList({self._built()!r})"


@dataclass
class Candidate:
    """A video reachable from the seeds, its quality fields, and every path that reaches it.

    ``paths`` may be given as any list of ``CandidatePath``; it is kept as a ``PathList``.
    """

    video_id: str
    title: str | None = None
    channel_id: str | None = None
    category: str | None = None
    features: dict[str, float | None] = field(default_factory=dict)
    paths: PathList = field(default_factory=PathList)

    def __post_init__(self) -> None:
        if not isinstance(self.paths, PathList):
            self.paths = PathList.of(self.paths)

    @property
    def best_strength(self) -> float:
        return max(self.paths.strengths, default=0.0)


def check_depth(depth: int) -> int:
    """The depth is a validated integer from 1 to 4; it picks query branches, never query text."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise InputError(f"depth must be a whole number from 1 to {MAX_DEPTH}, got {depth!r}")
    return depth


def candidate_from_row(row: Sequence[Any]) -> Candidate:
    """One list of candidates.cypher as a Candidate: video_id, title, channel_id, category, the
    ``FEATURES`` in order, then the paths' videos, scores and weights."""
    video_id, title, channel_id, category, *values = row
    *features, videos, scores, weights = values
    return Candidate(
        video_id=video_id,
        title=title,
        channel_id=channel_id,
        category=category,
        features=dict(zip(FEATURES, features, strict=True)),
        paths=PathList(videos, scores, weights),
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
    (answer,) = graph.run(
        "candidates",
        seeds=list(seeds),
        exclude=sorted(set(exclude)),
        depth=depth,
        k=int(settings.per_hop),
        max_candidates=int(settings.max_candidates),
    )
    return [candidate_from_row(row) for row in answer["candidates"]]
