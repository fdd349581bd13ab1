"""Ranking (paper 2.4): a linear score over normalised signals, then a greedy diversity re-rank.

Every signal is a number in [0, 1]; the score is ``sum(w_k * signal_k)`` with the weights of
``RankingSettings`` (``w_<signal>``). Three signals say how specific a candidate is to this user:

``relatedness``
    ``sum(seed_weight(p.seed) * p.strength for p in paths)`` divided by the largest such sum among
    this user's candidates (the strongest candidate has 1). ``p.strength`` is the product of the
    path's edge weights (each edge's score over the best score of its list).
``support``
    how many distinct seeds reach the candidate, ``min(1, seeds / SUPPORT_SATURATION)``: a video
    that three of the user's interests agree on is as supported as it gets.
``depth``
    ``1 / shortest path depth``: closeness to the seeds (the depth penalty, as a positive signal).

Five say how good the video is on its own, against catalogue-wide figures (``CatalogStats``):

``views``
    ``log1p(views) / log1p(catalogue max)``; ``sessions`` (c_i) stands in when views are unknown,
    and the catalogue max is then the larger of the two maxima (so the value never exceeds 1).
``rating``
    the Bayesian-smoothed mean ``(n * avg + m * global_mean) / (n + m)`` over 5, with
    ``m = rating_prior_count``; a video without ratings gets the global mean (``DEFAULT_RATING``
    when the catalogue has no ratings at all).
``comments``
    ``log1p(comments) / log1p(catalogue max)``.
``likes``
    ``log1p(likes + favorites) / log1p(catalogue max of likes + favorites)``.
``freshness``
    ``0.5 ** (age_days / freshness_half_life_days)``, the age measured back from the newest upload
    in the catalogue (not the wall clock, so a ranking is reproducible). Unknown upload time: 0.

A missing count (views, comments, ...) is 0. ``rank`` is a pure function: it needs no database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, cast, overload

import numpy as np

from loaders.schema import DAY
from ytgraph.config import RankingSettings
from ytgraph.recommendation.candidates import FEATURES, Candidate, CandidatePath
from ytgraph.recommendation.seeds import Seed

SUPPORT_SATURATION = 3  # distinct supporting seeds at which `support` reaches 1
DEFAULT_RATING = 3.0  # the global mean when the catalogue holds no rating at all (middle of 1..5)
MAX_RATING = 5.0
POPULARITY_WEIGHT = 1.0  # a popular backfill's score is its popularity signal

SPECIFICITY = ("relatedness", "support", "depth")
QUALITY = ("views", "rating", "comments", "likes", "freshness")
SIGNALS = SPECIFICITY + QUALITY


# --------------------------------------------------------------------------- catalogue statistics


@dataclass(frozen=True)
class CatalogStats:
    """Catalogue-wide maxima and the mean rating the quality signals are normalised against."""

    max_views: float | None = None
    max_sessions: float | None = None
    max_comments: float | None = None
    max_likes: float | None = None  # max of likes + favorites
    newest: float | None = None  # latest uploaded_at, epoch seconds
    mean_rating: float | None = None  # rating_count-weighted mean of rating_avg

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> CatalogStats:
        return cls(
            max_views=_num(rec.get("max_views")),
            max_sessions=_num(rec.get("max_sessions")),
            max_comments=_num(rec.get("max_comments")),
            max_likes=_num(rec.get("max_likes")),
            newest=_num(rec.get("newest")),
            mean_rating=_num(rec.get("mean_rating")),
        )

    @property
    def max_popularity(self) -> float | None:
        """The denominator of ``views``: views, or sessions where views are unknown."""
        known = [x for x in (self.max_views, self.max_sessions) if x is not None]
        return max(known) if known else None


# --------------------------------------------------------------------------------------- signals


def _num(x: Any) -> float | None:
    """A finite float, or None for null / NaN / non-numbers."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def feature_matrix(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The ``FEATURES`` of each row as a float array of shape (rows, features); NaN = unknown."""
    values = [[row.get(k) for k in FEATURES] for row in rows]
    try:
        out = np.array(values, dtype=float).reshape(len(values), len(FEATURES))
    except (TypeError, ValueError):  # a text or other oddity somewhere: go value by value
        out = np.array([[_num(x) for x in row] for row in values], dtype=float).reshape(
            len(values), len(FEATURES)
        )
    out[~np.isfinite(out)] = np.nan
    return out


def log_norm(values: np.ndarray, top: float | None) -> np.ndarray:
    """``log1p(value) / log1p(top)`` in [0, 1]; 0 where either is unknown or not positive."""
    if top is None or top <= 0:
        return np.zeros_like(values)
    with np.errstate(invalid="ignore"):
        ratio = np.log1p(np.where(values > 0, values, 0.0)) / math.log1p(top)
    return np.clip(np.nan_to_num(ratio, nan=0.0), 0.0, 1.0)


def popularity_value(features: Mapping[str, Any]) -> float | None:
    """Views, or observed sessions when views are unknown (the quantity popular.cypher sorts by)."""
    views = _num(features.get("views"))
    return views if views is not None else _num(features.get("sessions"))


def smoothed_rating(
    rating_avg: np.ndarray, rating_count: np.ndarray, stats: CatalogStats, prior_count: float
) -> np.ndarray:
    """``(n * avg + m * mean) / (n + m)`` on the 1..5 scale; the global mean without ratings."""
    mean = stats.mean_rating if stats.mean_rating is not None else DEFAULT_RATING
    n = np.where(rating_count > 0, rating_count, 0.0)  # NaN > 0 is False: no count is 0
    rated = (n > 0) & ~np.isnan(rating_avg)
    m = max(0.0, prior_count)
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = (n * rating_avg + m * mean) / (n + m)
    return np.where(rated, smoothed, mean)


def quality_matrix(
    features: np.ndarray, stats: CatalogStats, settings: RankingSettings
) -> np.ndarray:
    """``QUALITY`` signals (views, rating, comments, likes, freshness) of each row of a
    ``feature_matrix``, shape (rows, 5), each in [0, 1]."""
    col = {k: features[:, i] for i, k in enumerate(FEATURES)}
    popularity = np.where(np.isnan(col["views"]), col["sessions"], col["views"])
    rating = smoothed_rating(
        col["rating_avg"], col["rating_count"], stats, settings.rating_prior_count
    )
    likes = np.nan_to_num(col["likes"]) + np.nan_to_num(col["favorites"])
    uploaded = col["uploaded_at"]
    if stats.newest is None:
        freshness = np.zeros(len(features))
    else:
        age_days = np.maximum(0.0, (stats.newest - uploaded) / DAY)
        half_life = settings.freshness_half_life_days
        fresh = 0.5 ** (age_days / half_life) if half_life > 0 else np.ones(len(features))
        freshness = np.where(np.isnan(uploaded), 0.0, fresh)
    return np.column_stack(
        [
            log_norm(popularity, stats.max_popularity),
            np.clip(rating / MAX_RATING, 0.0, 1.0),
            log_norm(col["comments"], stats.max_comments),
            log_norm(likes, stats.max_likes),
            np.clip(freshness, 0.0, 1.0),
        ]
    )


def weights(settings: RankingSettings) -> dict[str, float]:
    """The weight of every signal, in ``SIGNALS`` order."""
    return {k: float(getattr(settings, f"w_{k}")) for k in SIGNALS}


# ------------------------------------------------------------------------------------ the ranking


@dataclass
class Recommendation:
    """One ranked video: its score, the signals behind it, the seed it is there because of."""

    video_id: str
    title: str | None
    score: float
    signals: dict[str, float]
    because: dict[str, Any]  # {seed_video_id, seed_title} or {"kind": "popular", ...}
    paths: list[CandidatePath] = field(default_factory=list)
    channel_id: str | None = None
    category: str | None = None
    rank: int | None = None  # 1-based place in the final list; None if not in it

    @property
    def popular(self) -> bool:
        return self.because.get("kind") == "popular"

    @property
    def seed(self) -> str | None:
        value = self.because.get("seed_video_id")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "title": self.title,
            "score": self.score,
            "signals": dict(self.signals),
            "because": dict(self.because),
            "paths": [list(p.videos) for p in self.paths],
        }


@dataclass(frozen=True)
class CapHit:
    """One diversity cap a candidate ran into: which cap, on what, how many were already taken."""

    cap: str  # "seed", "channel" or "category"
    key: str
    count: int
    limit: int

    def text(self) -> str:
        return f"the per-{self.cap} cap ({self.cap} {self.key} already has {self.count})"


@dataclass(frozen=True)
class Cut:
    """Why the greedy re-rank passed over a candidate (every cap it hit, seed cap first)."""

    video_id: str
    position: int  # 1-based place in the score order
    caps: tuple[CapHit, ...]

    def text(self) -> str:
        return "cut by " + " and ".join(c.text() for c in self.caps)


@dataclass
class RankedList:
    """The final list, every scored candidate (best first), and why the re-rank cut some."""

    recommendations: list[Recommendation]
    scored: ScoredList
    cuts: dict[str, Cut]
    n: int
    pool: int

    def position(self, video_id: str) -> int | None:
        """1-based place of a candidate in the score order, or None if it is no candidate."""
        return self.scored.position(video_id)

    def get(self, video_id: str) -> Recommendation | None:
        place = self.scored.position(video_id)
        return None if place is None else self.scored[place - 1]


class ScoredList(Sequence[Recommendation]):
    """Every scored candidate as a ``Recommendation``, best first, each made when first looked at:
    the re-rank reads the best ``pool``; only ``explain`` and notebooks walk the rest."""

    def __init__(
        self,
        order: Sequence[int],
        video_ids: Sequence[str],
        make: Callable[[int], Recommendation],
        signals: np.ndarray,
    ) -> None:
        """``order``: candidate indexes best first; ``video_ids``: each candidate's id (by index);
        ``make(index)``: that candidate's Recommendation; ``signals``: the (candidates,
        ``SIGNALS``) matrix by index, which learning the ranker's weights reads whole."""
        self._order = list(order)
        self.video_ids = video_ids
        self._make = make
        self.signals = signals
        self._made: dict[int, Recommendation] = {}
        self._places: dict[str, int] | None = None

    def position(self, video_id: str) -> int | None:
        """1-based place of ``video_id`` in the score order (None if no candidate), found without
        making any Recommendation."""
        if self._places is None:
            self._places = {self.video_ids[i]: p for p, i in enumerate(self._order, start=1)}
        return self._places.get(video_id)

    def _at(self, position: int) -> Recommendation:
        rec = self._made.get(position)
        if rec is None:
            rec = self._made[position] = self._make(self._order[position])
        return rec

    @overload
    def __getitem__(self, i: int) -> Recommendation: ...
    @overload
    def __getitem__(self, i: slice) -> list[Recommendation]: ...
    def __getitem__(self, i: int | slice) -> Recommendation | list[Recommendation]:
        if isinstance(i, slice):
            return [self._at(k) for k in range(*i.indices(len(self._order)))]
        return self._at(range(len(self._order))[i])

    def __len__(self) -> int:
        return len(self._order)


def score_candidates(
    candidates: Sequence[Candidate],
    seeds: Sequence[Seed],
    stats: CatalogStats,
    settings: RankingSettings,
) -> ScoredList:
    """Every candidate scored, best first (ties by video id); ``rank`` is left unset.

    All signals are computed for all candidates at once over flat arrays of their paths (a
    serving request ranks hundreds of candidates); ``Recommendation`` objects are made lazily.
    """
    n = len(candidates)
    # Seed columns: the user's seeds in seed-set order, then any other path start (weight 0) by id,
    # so that argmax's first-wins picks the same seed as "most contribution, then seed order".
    column = {s.video_id: i for i, s in enumerate(seeds)}
    starts = {x for c in candidates for x in c.paths.seeds}
    for extra in sorted(starts - column.keys()):
        column[extra] = len(column)
    names = list(column)
    seed_title = {s.video_id: s.title for s in seeds}
    seed_weight = np.zeros(len(column))
    seed_weight[: len(seeds)] = [s.weight for s in seeds]

    owner = np.repeat(np.arange(n), [len(c.paths) for c in candidates])
    col = np.array([column[x] for c in candidates for x in c.paths.seeds], dtype=np.intp)
    by_score = settings.strength == "score"
    strength = np.array(
        [
            x
            for c in candidates
            for x in (c.paths.score_strengths if by_score else c.paths.strengths)
        ],
        dtype=float,
    )
    depth = np.array([x for c in candidates for x in c.paths.depths], dtype=float)

    # contribution[c, s] = sum over the paths from seed s to candidate c of weight(s) * strength.
    contribution = np.zeros((n, len(column)))
    np.add.at(contribution, (owner, col), seed_weight[col] * strength)
    reached = np.zeros((n, len(column)), dtype=bool)
    reached[owner, col] = True
    raw = contribution.sum(axis=1)
    top = float(raw.max()) if n else 0.0
    shortest = np.full(n, np.inf)
    np.minimum.at(shortest, owner, np.where(depth > 0, depth, np.inf))
    specificity = np.column_stack(
        [
            np.clip(raw / top, 0.0, 1.0) if top > 0 else np.zeros(n),
            np.minimum(1.0, reached.sum(axis=1) / SUPPORT_SATURATION),
            np.where(np.isfinite(shortest), 1.0 / shortest, 0.0),
        ]
    ).reshape(n, len(SPECIFICITY))
    quality = quality_matrix(feature_matrix([c.features for c in candidates]), stats, settings)
    signals = np.hstack([specificity, quality])
    scores = (signals @ np.array(list(weights(settings).values()))).tolist()
    best: list[int] = (
        np.where(reached, contribution, -np.inf).argmax(axis=1).tolist()
        if n and len(column)
        else [0] * n  # no path at all (only popular candidates): never read
    )
    has_path = cast(list[bool], reached.any(axis=1).tolist())

    def make(i: int) -> Recommendation:
        cand = candidates[i]
        because: dict[str, Any]
        if has_path[i]:
            seed = names[best[i]]
            because = {"seed_video_id": seed, "seed_title": seed_title.get(seed)}
        else:  # a popular candidate (candidates.popular): no seed reaches it
            because = {"kind": "popular", "popularity": popularity_value(cand.features)}
        return Recommendation(
            video_id=cand.video_id,
            title=cand.title,
            score=scores[i],
            signals=dict(zip(SIGNALS, signals[i].tolist(), strict=True)),
            because=because,
            paths=list(cand.paths),
            channel_id=cand.channel_id,
            category=cand.category,
        )

    ids = [c.video_id for c in candidates]
    order = sorted(range(n), key=lambda i: (-scores[i], ids[i]))
    return ScoredList(order, ids, make, signals)


@dataclass
class CapCounts:
    """How many chosen recommendations each seed, channel and category already has."""

    taken: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"seed": {}, "channel": {}, "category": {}}
    )

    @staticmethod
    def _keys(rec: Recommendation) -> tuple[tuple[str, str | None], ...]:
        return (("seed", rec.seed), ("channel", rec.channel_id), ("category", rec.category))

    def hits(self, rec: Recommendation, settings: RankingSettings) -> tuple[CapHit, ...]:
        """The caps ``rec`` would break. A cap of 0 or less means no cap; a video without a
        seed (channel, category) is never capped on it."""
        out = []
        for cap, key in self._keys(rec):
            limit = int(getattr(settings, f"max_per_{cap}"))
            if key is None or limit <= 0:
                continue
            count = self.taken[cap].get(key, 0)
            if count >= limit:
                out.append(CapHit(cap, key, count, limit))
        return tuple(out)

    def add(self, rec: Recommendation) -> None:
        for cap, key in self._keys(rec):
            if key is not None:
                self.taken[cap][key] = self.taken[cap].get(key, 0) + 1


def diversify(
    scored: Sequence[Recommendation], settings: RankingSettings, n: int
) -> tuple[list[Recommendation], dict[str, Cut]]:
    """Greedy re-rank: walk the best ``pool`` in score order, keep a candidate while its seed,
    channel (and category, if capped) are under their caps, stop at ``n``.

    A cap of 0 or less means no cap; a video without channel (category) is never capped on it.
    """
    pool = max(settings.pool, n)
    counts = CapCounts()
    chosen: list[Recommendation] = []
    cuts: dict[str, Cut] = {}
    # islice, not scored[:pool]: a ScoredList makes each Recommendation as it is reached, and the
    # walk usually stops well before the pool ends.
    for position, rec in enumerate(islice(scored, pool), start=1):
        if len(chosen) >= n:
            break
        hits = counts.hits(rec, settings)
        if hits:
            cuts[rec.video_id] = Cut(rec.video_id, position, hits)
            continue
        chosen.append(rec)
        counts.add(rec)
    return chosen, cuts


def rank(
    candidates: Sequence[Candidate],
    seeds: Sequence[Seed],
    stats: CatalogStats,
    settings: RankingSettings,
    n: int | None = None,
) -> RankedList:
    """Score every candidate, then pick at most ``n`` (default ``settings.n``) under the caps."""
    size = settings.n if n is None else n
    scored = score_candidates(candidates, seeds, stats, settings)
    chosen, cuts = diversify(scored, settings, size)
    for i, rec in enumerate(chosen, start=1):
        rec.rank = i
    return RankedList(chosen, scored, cuts, size, max(settings.pool, size))


def popular_recommendation(row: Mapping[str, Any], stats: CatalogStats) -> Recommendation:
    """A popularity backfill from a ``popular.cypher`` row: score = popularity in [0, 1]."""
    raw = popularity_value(row)
    value = float(log_norm(np.array([np.nan if raw is None else raw]), stats.max_popularity)[0])
    return Recommendation(
        video_id=row["video_id"],
        title=row.get("title"),
        score=POPULARITY_WEIGHT * value,
        signals={"popularity": value},
        because={"kind": "popular", "popularity": raw},
        paths=[],
        channel_id=row.get("channel_id"),
        category=row.get("category"),
    )
