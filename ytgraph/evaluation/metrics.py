"""Per-user list metrics at n, bootstrap intervals over users, and figures per test period.

**Metrics at n** (per test user, then the mean over users): ``hit_rate`` (any hit), ``precision``
(hits / n), ``recall`` (hits / |truth|), ``ndcg`` (binary gains, ``1 / log2(rank + 1)``, over the
ideal ``min(|truth|, n)`` hits), ``user_coverage`` (the share of users whose list holds at least one
personalised item: not a popularity backfill for ytgraph, a positive score for SAR, never for a
baseline: the paper's coverage), ``catalog_coverage`` (distinct recommended videos over the
training catalogue), ``channels`` and ``categories`` (distinct ones per list; ``None`` when the data
has none). Each has a 95% bootstrap interval over users (``resamples`` draws of the users with
replacement, the same draws for every system, so the figures relative to Most Viewed, in %, get
intervals too). For ``temporal``, ``by_period`` gives hit rate and precision against the videos
first touched in each period of the test span (days, or weeks/months/years when it is long), like
the paper's figure 2.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from loaders.schema import DAY

USER_METRICS = (
    "hit_rate", "precision", "recall", "ndcg", "user_coverage", "channels", "categories",
)  # fmt: skip
METRICS = (*USER_METRICS[:5], "catalog_coverage", *USER_METRICS[5:])
PERIODS = ((1, "day"), (7, "week"), (30, "30 days"), (365, "year"))
MAX_PERIODS = 30


def list_metrics(recs: Sequence[str], truth: Collection[str], n: int) -> dict[str, float]:
    """hit_rate, precision, recall, ndcg of a list (its first ``n`` distinct items) vs truth."""
    top = list(dict.fromkeys(recs))[:n]
    gains = [1.0 if v in truth else 0.0 for v in top]
    hits = sum(gains)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(truth), n)))
    return {
        "hit_rate": 1.0 if hits > 0 else 0.0,
        "precision": hits / n,
        "recall": hits / len(truth) if truth else 0.0,
        "ndcg": dcg / idcg if idcg > 0 else 0.0,
    }


def _distinct(values: Sequence[Any]) -> int:
    return len({v for v in values if v is not None and v == v})  # v != v: NaN


def user_metrics(
    lists: Mapping[str, Sequence[str]],
    truth: Mapping[str, Collection[str]],
    users: Sequence[str],
    n: int,
    *,
    personal: Mapping[str, bool] | None = None,
    channel_of: Mapping[str, Any] | None = None,
    category_of: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per user: the ``USER_METRICS`` (NaN where the data has no channels/categories)."""
    rows = []
    for u in users:
        recs = list(lists.get(u, ()))
        m: dict[str, float] = list_metrics(recs, truth.get(u, set()), n)
        m["user_coverage"] = 1.0 if personal is not None and personal.get(u, False) else 0.0
        top = list(dict.fromkeys(recs))[:n]
        m["channels"] = _distinct([channel_of.get(v) for v in top]) if channel_of else np.nan
        m["categories"] = _distinct([category_of.get(v) for v in top]) if category_of else np.nan
        rows.append(m)
    return pd.DataFrame(rows, index=pd.Index(list(users), name="user_id"), columns=USER_METRICS)


def bootstrap_means(values: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of each column of ``values`` (users x k) over ``resamples`` draws of the users with
    replacement: a ``resamples x k`` array. Vectorised: multinomial counts times the matrix."""
    v = np.asarray(values, dtype="float64")
    if v.ndim == 1:
        v = v[:, None]
    users = v.shape[0]
    if users == 0:
        return np.full((resamples, v.shape[1]), np.nan)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, v.shape[1]))
    chunk = max(1, min(resamples, 4_000_000 // max(users, 1)))
    p = np.full(users, 1.0 / users)
    clean = np.nan_to_num(v)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        w = rng.multinomial(users, p, size=stop - start).astype("float64")
        out[start:stop] = w @ clean / users
    out[:, np.isnan(v).any(axis=0)] = np.nan
    return out


def bootstrap_ci(
    values: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean of each column over users: (low, high) arrays."""
    means = bootstrap_means(values, resamples=resamples, seed=seed)
    a = (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        lo = np.percentile(means, 100 * a, axis=0)
        hi = np.percentile(means, 100 * (1 - a), axis=0)
    return lo, hi


def period_length(span_days: float) -> tuple[int, str]:
    """The shortest of day / week / 30 days / year that cuts ``span_days`` in <= 30 periods."""
    for days, label in PERIODS:
        if span_days / days <= MAX_PERIODS:
            return days, label
    return PERIODS[-1]


def by_period(
    lists: Mapping[str, Sequence[str]], truth: pd.DataFrame, cut: int, n: int, days: int
) -> list[dict[str, Any]]:
    """Hit rate and precision per test period against the videos first touched in that period."""
    t = truth.assign(period=((truth["timestamp"] - cut) // (days * DAY)).astype(int) + 1)
    out = []
    for period, g in t.groupby("period", sort=True):
        hits = []
        for u, vids in g.groupby("user_id", sort=False)["video_id"]:
            m = list_metrics(lists.get(str(u), ()), set(vids), n)
            hits.append((m["hit_rate"], m["precision"]))
        arr = np.array(hits)
        out.append(
            {
                "period": int(str(period)),
                "users": len(hits),
                "hit_rate": float(arr[:, 0].mean()),
                "precision": float(arr[:, 1].mean()),
            }
        )
    return out
