"""Which stored recommendation pools a load can have changed (paper 2.5: recompute only those).

A user's pool depends on their own actions, on the related lists R_i reachable from their seeds
within ``depth - 1`` hops (a depth-d walk reads the lists of the videos it passes), and on the
quality figures of its videos and of the catalogue. A load marks stale:

- users whose actions changed (new events of theirs);
- users with an action on a video whose R_i changed where a walk reads it (an edge among its
  first ``per_hop`` whose weight moved by more than ``tolerance``, entering or leaving counting
  as its whole weight), or on a video from which such a list is reached within ``depth - 1``
  hops over the top ``per_hop`` edges (old or new lists);
- users whose pool holds a video whose views, sessions, likes + favorites, comments or rating
  count moved by more than ``tolerance`` (relative), or whose mean rating moved by more than
  ``tolerance`` of the 5-star scale;
- every user, when the catalogue's maxima (the denominators of the quality signals) or its
  newest upload (the reference of freshness) moved as much, or the counts were rebuilt.

What it cannot see: a video outside a user's pool whose quality rose enough to enter it. The
tolerance bounds how much any stored score can have moved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

QUALITY = ("views", "sessions", "likes", "comments", "rating_count")
MAX_RATING = 5.0


def changed_lists(
    old: pd.DataFrame,
    new: pd.DataFrame,
    tolerance: float,
    per_hop: int,
    by_score: bool = False,
) -> np.ndarray:
    """Sources whose first ``per_hop`` edges (all a walk follows) changed in a way it can notice:
    an edge's weight (score / best: a path's strength) moved by more than ``tolerance``, an edge
    entering or leaving counting as its whole weight; with ``by_score`` (ranking.strength =
    "score") its score, relative. Under ``llr`` every score moves a hair with N on every load, and
    a rank swap among the first ``per_hop`` changes no walk: those lists keep their pools."""
    cols = ["src", "dst", "score", "weight"]
    a = old.loc[old["rank"] <= per_hop, cols]
    b = new.loc[new["rank"] <= per_hop, cols]
    both = a.merge(b, how="outer", on=["src", "dst"], suffixes=("_a", "_b"))
    if by_score:
        moved = (both["score_b"] - both["score_a"]).abs() > tolerance * both["score_a"].abs()
        moved |= both["score_a"].isna() | both["score_b"].isna()
    else:
        delta = both["weight_b"].fillna(0.0) - both["weight_a"].fillna(0.0)
        moved = delta.abs() > tolerance
    return np.array(sorted(set(both.loc[moved, "src"].tolist())), dtype=object)


def reaching(
    sources: np.ndarray, tables: Sequence[pd.DataFrame], hops: int, per_hop: int
) -> np.ndarray:
    """``sources`` and every video from which one of them is reached in 1..``hops`` steps over the
    top ``per_hop`` edges of any of the related ``tables`` (src, dst, rank)."""
    reach = set(sources.tolist())
    if hops <= 0 or not reach:
        return np.array(sorted(reach), dtype=object)
    edges = pd.concat([t.loc[t["rank"] <= per_hop, ["src", "dst"]] for t in tables])
    frontier = set(reach)
    for _ in range(hops):
        back = set(edges.loc[edges["dst"].isin(frontier), "src"].tolist()) - reach
        if not back:
            break
        reach |= back
        frontier = back
    return np.array(sorted(reach), dtype=object)


def moved_videos(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], tolerance: float
) -> list[str]:
    """Videos (rows of ``video_quality.cypher``) whose quality moved by more than ``tolerance``."""
    old = {r["video_id"]: r for r in before}
    out = []
    for r in after:
        o = old.get(r["video_id"], {})
        likes = (
            _f(r.get("likes")) + _f(r.get("favorites")),
            _f(o.get("likes")) + _f(o.get("favorites")),
        )
        pairs = [(_f(r.get(k)), _f(o.get(k))) for k in QUALITY if k != "likes"] + [likes]
        moved = any(abs(a - b) > tolerance * max(abs(b), 1.0) for a, b in pairs)
        rating = abs(_f(r.get("rating_avg")) - _f(o.get("rating_avg"))) > tolerance * MAX_RATING
        if moved or rating:
            out.append(str(r["video_id"]))
    return out


def catalog_moved(
    before: Mapping[str, Any], after: Mapping[str, Any], tolerance: float, half_life_days: float
) -> bool:
    """Whether the catalogue's figures (rows of ``catalog_stats.cypher``) moved enough to shift
    every stored score: a denominator of a quality signal by more than ``tolerance`` (relative, on
    the log scale the signals use), the mean rating by ``tolerance`` of the scale, or the newest
    upload by an age that changes a freshness signal by more than ``tolerance``."""

    def popularity(stats: Mapping[str, Any]) -> float:  # views, or sessions where views are unknown
        return max(_f(stats.get("max_views")), _f(stats.get("max_sessions")))

    pairs = [(popularity(after), popularity(before))] + [
        (_f(after.get(k)), _f(before.get(k))) for k in ("max_comments", "max_likes")
    ]
    for a, b in pairs:
        if abs(math.log1p(a) - math.log1p(b)) > tolerance * max(math.log1p(b), 1.0):
            return True
    if abs(_f(after.get("mean_rating")) - _f(before.get("mean_rating"))) > tolerance * MAX_RATING:
        return True
    days = abs(_f(after.get("newest")) - _f(before.get("newest"))) / 86_400
    if half_life_days > 0 and days > 0:
        return 1 - 0.5 ** (days / half_life_days) > tolerance
    return False


def _f(x: Any) -> float:
    return 0.0 if x is None else float(x)
