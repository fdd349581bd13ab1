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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ytgraph.candidates import Candidate, Path
from ytgraph.config import RankingSettings
from ytgraph.graph import Graph
from ytgraph.seeds import Seed

DAY = 86_400.0
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


def catalog_stats(graph: Graph, *, refresh: bool = False) -> CatalogStats:
    """The catalogue's figures, read once per ``Graph`` object (``refresh`` reads them again)."""
    stats = graph.cache.get("catalog_stats")
    if stats is None or refresh:
        rows = graph.run("catalog_stats")
        stats = graph.cache["catalog_stats"] = CatalogStats.from_record(rows[0] if rows else {})
    return stats


def forget_catalog_stats(graph: Graph) -> None:
    """Drop the cached figures of ``graph`` (call after a load changed the catalogue)."""
    graph.cache.pop("catalog_stats", None)


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


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def log_norm(value: float | None, top: float | None) -> float:
    """``log1p(value) / log1p(top)`` in [0, 1]; 0 when either is unknown or not positive."""
    if value is None or top is None or value <= 0 or top <= 0:
        return 0.0
    return _clamp(math.log1p(value) / math.log1p(top))


def popularity_value(features: Mapping[str, Any]) -> float | None:
    """Views, or observed sessions when views are unknown (the quantity popular.cypher sorts by)."""
    views = _num(features.get("views"))
    return views if views is not None else _num(features.get("sessions"))


def smoothed_rating(
    rating_avg: float | None, rating_count: float | None, stats: CatalogStats, prior_count: float
) -> float:
    """``(n * avg + m * mean) / (n + m)`` on the 1..5 scale; the global mean without ratings."""
    mean = stats.mean_rating if stats.mean_rating is not None else DEFAULT_RATING
    n = rating_count if rating_count is not None and rating_count > 0 else 0.0
    if rating_avg is None or n == 0:
        return mean
    m = max(0.0, prior_count)
    return (n * rating_avg + m * mean) / (n + m)


def quality_signals(
    features: Mapping[str, Any], stats: CatalogStats, settings: RankingSettings
) -> dict[str, float]:
    """``views, rating, comments, likes, freshness`` of one video, each in [0, 1]."""
    rating = smoothed_rating(
        _num(features.get("rating_avg")),
        _num(features.get("rating_count")),
        stats,
        settings.rating_prior_count,
    )
    likes = (_num(features.get("likes")) or 0.0) + (_num(features.get("favorites")) or 0.0)
    uploaded = _num(features.get("uploaded_at"))
    if uploaded is None or stats.newest is None:
        freshness = 0.0
    else:
        age_days = max(0.0, (stats.newest - uploaded) / DAY)
        half_life = settings.freshness_half_life_days
        freshness = 0.5 ** (age_days / half_life) if half_life > 0 else 1.0
    return {
        "views": log_norm(popularity_value(features), stats.max_popularity),
        "rating": _clamp(rating / MAX_RATING),
        "comments": log_norm(_num(features.get("comments")), stats.max_comments),
        "likes": log_norm(likes, stats.max_likes),
        "freshness": _clamp(freshness),
    }


def weights(settings: RankingSettings) -> dict[str, float]:
    """The weight of every signal, in ``SIGNALS`` order."""
    return {k: float(getattr(settings, f"w_{k}")) for k in SIGNALS}


def seed_contributions(paths: Sequence[Path], seed_weight: Mapping[str, float]) -> dict[str, float]:
    """Per seed: the sum of ``seed_weight * strength`` over that seed's paths."""
    out: dict[str, float] = {}
    for p in paths:
        out[p.seed] = out.get(p.seed, 0.0) + seed_weight.get(p.seed, 0.0) * p.strength
    return out


# ------------------------------------------------------------------------------------ the ranking


@dataclass
class Recommendation:
    """One ranked video: its score, the signals behind it, the seed it is there because of."""

    video_id: str
    title: str | None
    score: float
    signals: dict[str, float]
    because: dict[str, Any]  # {seed_video_id, seed_title} or {"kind": "popular", ...}
    paths: list[Path] = field(default_factory=list)
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
    scored: list[Recommendation]
    cuts: dict[str, Cut]
    n: int
    pool: int

    def position(self, video_id: str) -> int | None:
        """1-based place of a candidate in the score order, or None if it is no candidate."""
        for i, rec in enumerate(self.scored, start=1):
            if rec.video_id == video_id:
                return i
        return None

    def get(self, video_id: str) -> Recommendation | None:
        return next((r for r in self.scored if r.video_id == video_id), None)


def score_of(signals: Mapping[str, float], settings: RankingSettings) -> float:
    return sum(w * signals.get(k, 0.0) for k, w in weights(settings).items())


def score_candidates(
    candidates: Sequence[Candidate],
    seeds: Sequence[Seed],
    stats: CatalogStats,
    settings: RankingSettings,
) -> list[Recommendation]:
    """Every candidate scored, best first (ties by video id); ``rank`` is left unset."""
    seed_weight = {s.video_id: s.weight for s in seeds}
    seed_title = {s.video_id: s.title for s in seeds}
    seed_order = {s.video_id: i for i, s in enumerate(seeds)}
    contributions = [seed_contributions(c.paths, seed_weight) for c in candidates]
    raw = [sum(c.values()) for c in contributions]
    top = max(raw, default=0.0)
    out: list[Recommendation] = []
    for cand, contrib, total in zip(candidates, contributions, raw, strict=True):
        depths = [p.depth for p in cand.paths if p.depth > 0]
        signals = {
            "relatedness": _clamp(total / top) if top > 0 else 0.0,
            "support": min(1.0, len(contrib) / SUPPORT_SATURATION),
            "depth": 1.0 / min(depths) if depths else 0.0,
            **quality_signals(cand.features, stats, settings),
        }
        because: dict[str, Any] = {}
        if contrib:
            best = min(contrib, key=lambda s: (-contrib[s], seed_order.get(s, len(seed_order)), s))
            because = {"seed_video_id": best, "seed_title": seed_title.get(best)}
        out.append(
            Recommendation(
                video_id=cand.video_id,
                title=cand.title,
                score=score_of(signals, settings),
                signals=signals,
                because=because,
                paths=list(cand.paths),
                channel_id=cand.channel_id,
                category=cand.category,
            )
        )
    out.sort(key=lambda r: (-r.score, r.video_id))
    return out


def _caps_hit(
    rec: Recommendation, counts: dict[str, dict[str, int]], settings: RankingSettings
) -> tuple[CapHit, ...]:
    """The caps ``rec`` would break, given how many of each seed, channel, category are taken."""
    hits = []
    for cap, key in (("seed", rec.seed), ("channel", rec.channel_id), ("category", rec.category)):
        limit = int(getattr(settings, f"max_per_{cap}"))
        taken = counts[cap].get(key, 0) if key is not None else 0
        if key is not None and limit > 0 and taken >= limit:
            hits.append(CapHit(cap, key, taken, limit))
    return tuple(hits)


def diversify(
    scored: Sequence[Recommendation], settings: RankingSettings, n: int
) -> tuple[list[Recommendation], dict[str, Cut]]:
    """Greedy re-rank: walk the best ``pool`` in score order, keep a candidate while its seed,
    channel (and category, if capped) are under their caps, stop at ``n``.

    A cap of 0 or less means no cap; a video without channel (category) is never capped on it.
    """
    pool = max(settings.pool, n)
    counts: dict[str, dict[str, int]] = {"seed": {}, "channel": {}, "category": {}}
    chosen: list[Recommendation] = []
    cuts: dict[str, Cut] = {}
    for position, rec in enumerate(scored[:pool], start=1):
        if len(chosen) >= n:
            break
        hits = _caps_hit(rec, counts, settings)
        if hits:
            cuts[rec.video_id] = Cut(rec.video_id, position, hits)
            continue
        chosen.append(rec)
        for cap, key in (
            ("seed", rec.seed),
            ("channel", rec.channel_id),
            ("category", rec.category),
        ):
            if key is not None:
                counts[cap][key] = counts[cap].get(key, 0) + 1
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
    value = log_norm(raw, stats.max_popularity)
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
