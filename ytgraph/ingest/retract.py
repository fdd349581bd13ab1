"""Retractions and removals: what takes events back out of the counts and the graph.

A retraction is a canonical event (``unlike``, ``unfavorite``, ``playlist_remove``,
``history_remove``) that removes the same user's earlier events of its kind for that video: every
one at or before its timestamp (the latest event of the pair wins; at a tie the retraction does).
The count state keeps the retraction rows, so an older event arriving in a later load is retracted
too and incremental loads still equal one load of everything, but never the events they removed:
the graph, c_i, c_ij and R_i are those of a fresh load of the events without them.

``forget`` (``ytgraph.ingest.forget``) removes whole users the same way: ``Removals`` names what
the graph must lose so that it equals a fresh load without the removed events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ytgraph.db.graph import Writer

# retraction -> the event kind it takes back
RETRACTIONS: dict[str, str] = {
    "unlike": "like",
    "unfavorite": "favorite",
    "playlist_remove": "playlist_add",
    "history_remove": "watch",
}
# event kind -> the graph relationship it makes
RELATIONSHIPS: dict[str, str] = {
    "watch": "WATCHED",
    "like": "LIKED",
    "favorite": "FAVORITED",
    "playlist_add": "PLAYLISTED",
    "rate": "RATED",
}
# Events after which a user's sessions must be cut again.
SESSION_EVENTS = ("watch", "history_remove")


def retracted(events: pd.DataFrame) -> np.ndarray:
    """Which rows a retraction removes: events of its kind, same user and video, at or before
    the latest such retraction. Retraction rows themselves are never marked."""
    kind = events["event"].astype(object)
    is_retraction = kind.isin(RETRACTIONS).to_numpy()
    if not is_retraction.any():
        return np.zeros(len(events), dtype=bool)
    r = events[is_retraction]
    latest = (
        pd.DataFrame(
            {
                "user_id": r["user_id"].to_numpy(),
                "video_id": r["video_id"].to_numpy(),
                "event": r["event"].map(RETRACTIONS).to_numpy(),
                "until": r["timestamp"].to_numpy(dtype="int64"),
            }
        )
        .groupby(["user_id", "video_id", "event"], sort=False)["until"]
        .max()
    )
    keys = pd.MultiIndex.from_arrays(
        [events["user_id"].to_numpy(), events["video_id"].to_numpy(), kind.to_numpy()]
    )
    until = latest.reindex(keys).to_numpy(dtype="float64")
    ts = events["timestamp"].to_numpy(dtype="float64")
    return ~np.isnan(until) & (ts <= until)


def live(events: pd.DataFrame) -> pd.DataFrame:
    """The events that put something in the graph: every row but the retraction rows."""
    return events[~events["event"].isin(RETRACTIONS).to_numpy()]


@dataclass
class Removals:
    """What the graph loses so that it equals a fresh load without ``removed`` events."""

    # (user, video) pairs that lost events: their relationships of kinds left without events go
    pairs: list[dict[str, Any]] = field(default_factory=list)
    users: list[str] = field(default_factory=list)  # users left without any event
    videos: list[str] = field(default_factory=list)  # videos no event and no metadata names

    def __bool__(self) -> bool:
        return bool(self.pairs or self.users or self.videos)


def removals(
    kept: pd.DataFrame, removed: pd.DataFrame, catalog: set[str] | None, listed: set[str]
) -> Removals:
    """What to delete after ``removed`` left the events and ``kept`` (all of them, retraction rows
    included) stayed. ``catalog``: the video ids metadata or a crawl ever named (None: unknown,
    then ``listed`` holds the candidates known to carry metadata in the graph)."""
    gone = live(removed)
    if gone.empty:
        return Removals()
    have = live(kept)
    pairs = gone[["user_id", "video_id"]].drop_duplicates()
    left = have.merge(pairs, on=["user_id", "video_id"], how="inner")
    kinds = (
        left.assign(rel=left["event"].map(RELATIONSHIPS))
        .groupby(["user_id", "video_id"])["rel"]
        .agg(lambda s: sorted(set(s)))
    )
    pair_rows = [
        {"user_id": u, "video_id": v, "keep": kinds.get((u, v), [])}
        for u, v in pairs.itertuples(index=False)
    ]
    users = sorted(set(gone["user_id"]) - set(have["user_id"]))
    named = set(have["video_id"]) | (listed if catalog is None else catalog)
    videos = sorted(set(gone["video_id"]) - named)
    return Removals(pair_rows, users, videos)


def apply_removals(tx: Writer, r: Removals, batch: int) -> None:
    """Delete, inside the caller's transaction, what ``r`` names (relationships, users, videos)."""
    if r.pairs:
        tx.batches("prune_actions", r.pairs, batch)
    if r.users:
        tx.batches("delete_users", r.users, batch)
    if r.videos:
        tx.batches("delete_videos", r.videos, batch)
