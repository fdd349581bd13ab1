"""The paper's browse-page baselines, computed from a training part: what ytgraph is measured against.

Baselines, each leaving out what the user touched in training:

``most-viewed``  most training watches (ties by video id).
``top-favorited``  most training favorites; when the training data holds none (MovieLens), the
    documented proxy is the most ratings of at least ``FAVORITE_PROXY_RATING`` (4.5), the nearest
    thing to a favorite a rating site has; with neither it is left out and the report says so.
``top-rated``  the smoothed mean ``(c * avg + m * mean) / (c + m)`` with
    ``m = ranking.rating_prior_count``, over the videos with a training rating (n/a without any).
``random``  uniform over the training catalogue, seeded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from ytgraph.config import Settings
from ytgraph.evaluation.splits import latest_ratings

BASELINES = ("most-viewed", "top-favorited", "top-rated", "random")
BASELINE_LABELS = {
    "most-viewed": "Most Viewed",
    "top-favorited": "Top Favorited",
    "top-rated": "Top Rated",
    "random": "Random",
}
FAVORITE_PROXY_RATING = 4.5


def _order(score: pd.Series) -> list[str]:
    """Video ids by score, best first, ties by video id; only positive scores."""
    s = score[score > 0]
    frame = pd.DataFrame({"video_id": s.index.astype(str), "score": s.to_numpy(dtype="float64")})
    frame = frame.sort_values(["score", "video_id"], ascending=[False, True], kind="stable")
    return frame["video_id"].tolist()


def baseline_orders(
    train: pd.DataFrame, settings: Settings
) -> dict[str, tuple[list[str] | None, str]]:
    """For each baseline: its global order of videos (None when n/a) and a note on its basis."""
    out: dict[str, tuple[list[str] | None, str]] = {}
    views = train.loc[train["event"] == "watch", "video_id"].value_counts()
    if views.empty:
        views = train.groupby("video_id")["user_id"].nunique()
        out["most-viewed"] = (_order(views), "no watches in training: distinct users instead")
    else:
        out["most-viewed"] = (_order(views), "most training watches")
    favs = train.loc[train["event"] == "favorite", "video_id"].value_counts()
    ratings = latest_ratings(train)
    if not favs.empty:
        out["top-favorited"] = (_order(favs), "most training favorites")
    else:
        loved = ratings.loc[ratings["rating"] >= FAVORITE_PROXY_RATING, "video_id"].value_counts()
        if loved.empty:
            out["top-favorited"] = (None, "n/a: no favorites (nor ratings) in the data")
        else:
            out["top-favorited"] = (
                _order(loved),
                f"no favorites in the data: proxy = most ratings >= {FAVORITE_PROXY_RATING:g}",
            )
    if ratings.empty:
        out["top-rated"] = (None, "n/a: no ratings in the data")
    else:
        m = max(0.0, settings.ranking.rating_prior_count)
        g = ratings.groupby("video_id")["rating"]
        c, avg = g.size().astype("float64"), g.mean()
        mean = float(ratings["rating"].mean())
        smoothed = (c * avg + m * mean) / (c + m)
        out["top-rated"] = (
            _order(smoothed + 1e-12),  # a 0.0 mean is still a rating
            f"smoothed mean rating, prior {m:g} ratings at the mean {mean:.2f}",
        )
    out["random"] = (sorted(train["video_id"].unique().tolist()), "uniform, seeded")
    return out


def top_excluding(order: Sequence[str], seen: Collection[str], n: int) -> list[str]:
    """The first ``n`` of ``order`` that are not in ``seen``."""
    out: list[str] = []
    for v in order:
        if v not in seen:
            out.append(v)
            if len(out) == n:
                break
    return out


def random_lists(
    catalog: Sequence[str],
    seen: Mapping[str, Collection[str]],
    users: Sequence[str],
    n: int,
    seed: int,
) -> dict[str, list[str]]:
    """``n`` videos per user drawn uniformly from ``catalog`` without what the user has seen."""
    rng = np.random.default_rng(seed)
    items = np.asarray(catalog, dtype=object)
    out: dict[str, list[str]] = {}
    for u in users:
        s = seen.get(u, ())
        take = min(len(items), n + len(s))
        draw = items[rng.choice(len(items), size=take, replace=False)] if take else items[:0]
        out[u] = top_excluding(draw.tolist(), s, n)
    return out
