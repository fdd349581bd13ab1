"""The seed set S (paper 2.3): the videos a user showed interest in, each with a weight.

Explicit actions weigh more than long watches, long watches more than plain ones; a rating counts only at
or above the threshold (and a rating below it removes the video from the seeds: the user disliked it).
Recency decays every action with a half-life, measured back from the user's latest action, so the
weights do not depend on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loaders.schema import DAY
from ytgraph.config import SeedSettings


@dataclass(frozen=True)
class Seed:
    """One seed video, its weight, and which actions made it a seed."""

    video_id: str
    title: str | None
    weight: float
    reasons: tuple[str, ...]


def action_weight(action: Mapping[str, Any], settings: SeedSettings) -> tuple[float, str] | None:
    """The base weight of one action (before recency) and its reason, or None if it is no seed."""
    kind = action["kind"]
    if kind == "FAVORITED":
        return settings.weight_favorite, "favorited"
    if kind == "LIKED":
        return settings.weight_like, "liked"
    if kind == "PLAYLISTED":
        return settings.weight_playlist_add, "added to a playlist"
    if kind == "RATED":
        rating = action.get("rating")
        if rating is None or rating < settings.rating_threshold:
            return None
        # Scaled from 1/(span+1) at the threshold to 1 at five stars.
        span = 5.0 - settings.rating_threshold
        return settings.weight_rate * (rating - settings.rating_threshold + 1) / (span + 1), (
            f"rated {rating:g}"
        )
    if kind == "WATCHED":
        if (action.get("long_watches") or 0) > 0:
            return settings.weight_long_watch, "watched long"
        return settings.weight_watch, "watched"
    return None


def seed_set(actions: Iterable[Mapping[str, Any]], settings: SeedSettings) -> list[Seed]:
    """Seeds from a user's actions (rows of ``user_actions.cypher``), heaviest first, at most max_seeds."""
    rows = [a for a in actions if a.get("video_id") is not None]
    if not rows:
        return []
    latest = max((a["at"] or 0) for a in rows)
    disliked = {
        a["video_id"]
        for a in rows
        if a["kind"] == "RATED"
        and a.get("rating") is not None
        and a["rating"] < settings.rating_threshold
    }
    weights: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    titles: dict[str, str | None] = {}
    for a in rows:
        vid = a["video_id"]
        if vid in disliked:
            continue
        got = action_weight(a, settings)
        if got is None:
            continue
        base, reason = got
        age_days = max(0.0, (latest - (a["at"] or latest)) / DAY)
        decay = 0.5 ** (age_days / settings.half_life_days) if settings.half_life_days > 0 else 1.0
        weights[vid] = weights.get(vid, 0.0) + base * decay
        reasons.setdefault(vid, []).append(reason)
        titles[vid] = a.get("title")
    ordered = sorted(weights, key=lambda v: (-weights[v], v))[: settings.max_seeds]
    return [Seed(v, titles[v], weights[v], tuple(sorted(reasons[v]))) for v in ordered]
