"""The canonical tables every reader produces, and the bookkeeping of what was read.

Events (one row a user action), after parsing:
    user_id: str, video_id: str, timestamp: int64 (epoch seconds, UTC), event: str (one of EVENTS),
    watch_seconds: float64 (NaN when absent), rating: float64 (NaN when absent)
Videos (one row a video), after parsing: ``video_id`` (str) and any of VIDEO_COLUMNS, typed as listed
there (strings for text, float64 for counts and amounts so that a missing value is NaN).
Impressions and clicks (``LOG_EVENTS``) are events of the logs, not of the graph: an ``impression``
(a video shown) also carries ``arm``, ``surface`` (str) and ``position`` (int, 1-based), optional
columns of the events table that a reader adds when the file has them; a ``click`` needs none.
They never count towards sessions, co-visitation or seeds: a load accepts them and skips them.
Related lists from a crawl (youtube2008): src (str), dst (str), position (int, 1-based).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ytgraph.errors import InputError

# What people do; then the retractions, each taking back the same user's earlier events of one
# kind for that video (ytgraph.ingest.retract): unlike -> like, unfavorite -> favorite,
# playlist_remove -> playlist_add, history_remove -> watch.
ACTIONS = ("watch", "like", "favorite", "rate", "playlist_add")
RETRACTION_EVENTS = ("unlike", "unfavorite", "playlist_remove", "history_remove")
# What live evaluation reads (ytgraph.evaluation.live): a video shown to a user, and a click on it.
LOG_EVENTS = ("impression", "click")
EVENTS = ACTIONS + RETRACTION_EVENTS + LOG_EVENTS
EVENT_COLUMNS = ("user_id", "video_id", "timestamp", "event", "watch_seconds", "rating")
REQUIRED_EVENT_COLUMNS = ("user_id", "video_id", "timestamp", "event")
# Optional columns of the events table, required of an impression row (str, str, int >= 1).
IMPRESSION_COLUMNS = ("arm", "surface", "position")
RATING_RANGE = (0.0, 5.0)
# Ids (and the other values Neo4j indexes: channel ids, category names) are at most this many bytes
# of UTF-8. Neo4j's index refuses keys over about 8 KB, and one such key would fail a whole load.
MAX_KEY_BYTES = 1024
DAY = 86_400  # seconds: every timestamp is epoch seconds

# name -> "str" | "float" | "time" (a time is parsed to epoch seconds, like an event's timestamp)
VIDEO_COLUMNS: dict[str, str] = {
    "title": "str",
    "channel_id": "str",
    "category": "str",
    "uploaded_at": "time",
    "duration_seconds": "float",
    "views": "float",
    "likes": "float",
    "dislikes": "float",
    "rating_avg": "float",
    "rating_count": "float",
    "comments": "float",
    "favorites": "float",
}


@dataclass(frozen=True)
class Reject:
    """One row that was not accepted, and why. ``line`` is 1-based in the source file."""

    file: str
    line: int
    reason: str
    raw: str = ""


@dataclass
class ReadReport:
    """Rows read = accepted + rejected, per file; the rejects themselves with their reasons."""

    read: int = 0
    accepted: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def merge(self, other: ReadReport) -> ReadReport:
        return ReadReport(
            self.read + other.read, self.accepted + other.accepted, self.rejects + other.rejects
        )

    def write_rejects(self, path: str | Path) -> Path:
        """Write every reject as CSV (file, line, reason, raw) and return the path.

        A path that cannot be written (a folder, under a file, no access) is an InputError.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["file", "line", "reason", "raw"])
                for r in self.rejects:
                    w.writerow([r.file, r.line, r.reason, r.raw])
        except OSError as e:
            raise InputError(f"cannot write rejects file {path}: {e.strerror or e}") from None
        return path


@dataclass
class Dataset:
    """What a reader hands on: canonical events and videos, optional crawl related lists, and the report."""

    events: pd.DataFrame
    videos: pd.DataFrame
    report: ReadReport
    crawl_related: pd.DataFrame | None = None


def empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series([], dtype=object),
            "video_id": pd.Series([], dtype=object),
            "timestamp": pd.Series([], dtype="int64"),
            "event": pd.Series([], dtype=object),
            "watch_seconds": pd.Series([], dtype="float64"),
            "rating": pd.Series([], dtype="float64"),
        }
    )


def empty_videos() -> pd.DataFrame:
    return pd.DataFrame({"video_id": pd.Series([], dtype=object)})


def split_log_events(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(graph events with the canonical columns only, the impression and click rows)."""
    logged = events["event"].isin(LOG_EVENTS).to_numpy()
    graph = events if not logged.any() else events[~logged].reset_index(drop=True)
    if any(c not in EVENT_COLUMNS for c in graph.columns):
        graph = graph[list(EVENT_COLUMNS)]
    return graph, events[logged].reset_index(drop=True)
