"""Offline splits: each user's history cut into a training part and a test part, with no leakage.

**Splits** (``split_events``). The unit of the per-user protocols is a (user, video) interaction:
all events of a pair go to the same side, so a video is never both known and to be found.

``temporal``
    one global cut in time, at the ``1 - test_fraction`` quantile of the event timestamps (default
    the 80% quantile, numpy's ``method="higher"``): train = events before the cut, test = events at
    or after it. Test users are the users with events on both sides.
``last-n``
    each user's interactions in order of their first event; the latest ``test_fraction`` (default
    20%) are the test part.
``random``
    each user's interactions shuffled with ``seed``; ``test_fraction`` (default 25%) are the test
    part: the 75/25 shape of the common MovieLens benchmarks.

A user with ``k >= 2`` interactions keeps ``round_half_up((1 - f) * k)`` of them in training,
clipped to ``1 .. k - 1``; a user with one interaction stays in training only. **Ground truth** is
the distinct videos a test user touched in the test part and never in the training part; a user with
none is no test user.

**No leakage** (``training_dataset``): only the training events are loaded, into an emptied graph,
and the videos table keeps only static metadata (title, channel, category, genres, upload time,
duration). Its quality fields are recomputed from the training events: ``views`` = training
watches, ``likes`` / ``favorites`` = training counts, ``rating_avg`` / ``rating_count`` = the mean
and number of the users' latest training ratings. A video first seen in the test part has no
counts at all.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loaders.schema import Dataset, ReadReport, split_log_events
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import InputError
from ytgraph.ingest.load import LoadSummary, load, wipe_graph

PROTOCOLS = ("temporal", "last-n", "random")
DEFAULT_TEST_FRACTION = {"temporal": 0.2, "last-n": 0.2, "random": 0.25}
STATIC_VIDEO_COLUMNS = (
    "title", "channel_id", "category", "genres", "uploaded_at", "duration_seconds",
)  # fmt: skip


@dataclass
class Split:
    """Training events, test events, and the ground truth per test user (see the module doc)."""

    protocol: str
    test_fraction: float
    seed: int
    train: pd.DataFrame  # canonical events
    test: pd.DataFrame  # canonical events of the test part
    truth: pd.DataFrame  # user_id, video_id, timestamp (first event in the test part)
    users: list[str]  # the test users, sorted; each has >= 1 truth video
    cut: int | None = None  # temporal: the first timestamp of the test part

    def truth_sets(self) -> dict[str, set[str]]:
        return {str(u): set(g) for u, g in self.truth.groupby("user_id", sort=True)["video_id"]}

    def summary(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "train_events": len(self.train),
            "test_events": len(self.test),
            "train_users": int(self.train["user_id"].nunique()),
            "test_users": len(self.users),
            "truth_pairs": len(self.truth),
            "catalog": int(self.train["video_id"].nunique()),
            "cut": self.cut,
        }


def train_counts(k: np.ndarray, test_fraction: float) -> np.ndarray:
    """How many of ``k`` interactions stay in training: round-half-up of (1 - f) k, in 1..k-1."""
    k = np.asarray(k, dtype=np.int64)
    keep = np.floor((1.0 - test_fraction) * k + 0.5 + 1e-9).astype(np.int64)
    keep = np.clip(keep, 1, np.maximum(k - 1, 1))
    return np.where(k >= 2, keep, k)


def _check_protocol(protocol: str, test_fraction: float | None) -> float:
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    f = DEFAULT_TEST_FRACTION[protocol] if test_fraction is None else float(test_fraction)
    if not 0.0 < f < 1.0:
        raise InputError(f"test_fraction must be between 0 and 1 (exclusive), got {f!r}")
    return f


def split_events(
    events: pd.DataFrame, protocol: str, *, test_fraction: float | None = None, seed: int = 0
) -> Split:
    """Split canonical events by ``protocol`` (``temporal``, ``last-n``, ``random``); impressions
    and clicks are the live logs' business, not interactions, and are left out."""
    f = _check_protocol(protocol, test_fraction)
    ev = split_log_events(events)[0].reset_index(drop=True)
    if ev.empty:
        raise InputError("evaluate: the dataset has no events")
    keys = ["user_id", "video_id"]
    cut: int | None = None
    if protocol == "temporal":
        ts = ev["timestamp"].to_numpy(dtype=np.int64)
        cut = int(np.quantile(ts, 1.0 - f, method="higher"))
        is_test = ts >= cut
        train, test = ev[~is_test], ev[is_test]
        if train.empty:
            raise InputError("evaluate: the temporal cut leaves no training events")
        first = test.groupby(keys, sort=True)["timestamp"].min().reset_index()
        had = train[keys].drop_duplicates()
        first = first[first["user_id"].isin(had["user_id"])]
        first = first.merge(had, on=keys, how="left", indicator=True)
        truth = first[first["_merge"] == "left_only"].drop(columns="_merge")
    else:
        pairs = ev.groupby(keys, sort=True)["timestamp"].min().reset_index()
        if protocol == "random":
            rng = np.random.default_rng(seed)
            pairs["order"] = rng.random(len(pairs))
        else:
            pairs["order"] = pairs["timestamp"]
        pairs = pairs.sort_values(["user_id", "order", "video_id"], kind="stable")
        k = pairs.groupby("user_id", sort=False)["video_id"].transform("size").to_numpy()
        pos = pairs.groupby("user_id", sort=False).cumcount().to_numpy()
        pairs["test"] = pos >= train_counts(k, f)
        side = ev.merge(pairs[[*keys, "test"]], on=keys, how="left")["test"].to_numpy(dtype=bool)
        train, test = ev[~side], ev[side]
        truth = pairs.loc[pairs["test"], [*keys, "timestamp"]]
    truth = truth[[*keys, "timestamp"]].sort_values(keys, kind="stable").reset_index(drop=True)
    users = sorted(truth["user_id"].unique().tolist())
    return Split(
        protocol=protocol,
        test_fraction=f,
        seed=seed,
        train=train.reset_index(drop=True),
        test=test.reset_index(drop=True),
        truth=truth,
        users=users,
        cut=cut,
    )


def sample_users(users: Sequence[str], max_users: int | None, seed: int) -> list[str]:
    """``max_users`` of ``users`` drawn with ``seed`` (sorted), or all of them."""
    if max_users is None or len(users) <= max_users:
        return list(users)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(np.asarray(users, dtype=object), max_users, replace=False))


def latest_ratings(train: pd.DataFrame) -> pd.DataFrame:
    """Each user's latest training rating of each video: user_id, video_id, rating."""
    r = train[(train["event"] == "rate") & train["rating"].notna()]
    r = r.sort_values(["user_id", "video_id", "timestamp"], kind="stable")
    return r.groupby(["user_id", "video_id"], sort=True).tail(1)[["user_id", "video_id", "rating"]]


def training_videos(train: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """The videos table a training load gets: static metadata plus quality fields from ``train``."""
    cols = ["video_id", *[c for c in STATIC_VIDEO_COLUMNS if c in videos.columns]]
    static = videos[cols].drop_duplicates("video_id", keep="last") if len(videos) else None
    ids = pd.Index(train["video_id"].unique()).astype(object)
    if static is not None:
        ids = ids.union(pd.Index(static["video_id"]).astype(object))
    ids = pd.Index(sorted(ids.tolist()), dtype=object, name="video_id")
    out = pd.DataFrame(index=ids)
    if static is not None:
        out = out.join(static.set_index("video_id"))
    has_events = ids.isin(train["video_id"].unique())

    def count(kind: str) -> pd.Series:
        got = train.loc[train["event"] == kind, "video_id"].value_counts()
        return got.reindex(ids).fillna(0.0).where(has_events).astype("float64")

    out["views"] = count("watch")
    out["likes"] = count("like")
    out["favorites"] = count("favorite")
    latest = latest_ratings(train).groupby("video_id")["rating"]
    out["rating_avg"] = latest.mean().reindex(ids).astype("float64")
    out["rating_count"] = latest.size().reindex(ids).astype("float64")
    return out.reset_index()


def training_dataset(split: Split, videos: pd.DataFrame) -> Dataset:
    """What gets loaded: the training events and ``training_videos``; nothing of the test part."""
    n = len(split.train)
    return Dataset(
        events=split.train.copy(),
        videos=training_videos(split.train, videos),
        report=ReadReport(read=n, accepted=n),
    )


def load_training(
    dataset: Dataset, settings: Settings, graph: Graph, *, progress: Any = None
) -> LoadSummary:
    """Empty ``graph`` and load ``dataset`` into it with a fresh count state of its own."""
    wipe_graph(graph)
    with tempfile.TemporaryDirectory(prefix="ytgraph-eval-state-") as tmp:
        summary = load(dataset, settings, graph, Path(tmp) / "state", progress=progress)
    return summary  # load() already cleared the graph's cached catalogue figures
