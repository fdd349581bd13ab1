"""Everything ytgraph holds about one user, for them to see (``ytgraph user show``).

The count state's rows of theirs, their actions in the graph and the seeds made from them, their
stored pool with its stale mark, what they were shown (``User.shown``) and their rows in the
impressions log. ``ytgraph.ingest.forget`` removes all of it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from loaders.schema import empty_events
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import GraphError, NotFoundError
from ytgraph.ingest.forget import IMPRESSIONS
from ytgraph.ingest.state import StateStore
from ytgraph.recommendation.seeds import Seed, seed_set
from ytgraph.recommendation.serve import parse
from ytgraph.recommendation.service import Recommendations


@dataclass
class UserData:
    """What is held about ``user_id``, by where it is held."""

    user_id: str
    events: pd.DataFrame  # their rows in the count state
    actions: list[dict[str, Any]]  # rows of user_actions.cypher
    seeds: list[Seed]
    pool: Recommendations | None = None  # the stored pool, parsed
    pool_stale: bool = False
    pool_key: str | None = None
    shown: list[str] = field(default_factory=list)
    impressions: list[dict[str, str]] = field(default_factory=list)

    def event_summary(self) -> dict[str, dict[str, int]]:
        """Per event kind: how many, and the first and last time (epoch seconds)."""
        g = self.events.groupby("event")["timestamp"]
        return {
            str(k): {"count": int(n), "first": int(lo), "last": int(hi)}
            for k, n, lo, hi in zip(g.size().index, g.size(), g.min(), g.max(), strict=True)
        }

    def to_json(self) -> dict[str, Any]:
        """Every part, with the rows themselves."""
        events = self.events.astype(object).where(self.events.notna(), None)
        pool = None
        if self.pool is not None:
            pool = {
                "stale": self.pool_stale,
                "key": self.pool_key,
                "items": [r.to_json() for r in self.pool.recommendations],
            }
        return {
            "user_id": self.user_id,
            "events": {"by_kind": self.event_summary(), "rows": events.to_dict("records")},
            "actions": self.actions,
            "seeds": [
                {
                    "video_id": s.video_id,
                    "title": s.title,
                    "weight": s.weight,
                    "reasons": list(s.reasons),
                }
                for s in self.seeds
            ],
            "pool": pool,
            "shown": self.shown,
            "impressions": self.impressions,
        }

    def text(self) -> str:
        """A readable account, one part a paragraph."""
        out = [f"User {self.user_id}"]
        summary = self.event_summary()
        out.append(f"events in the count state: {len(self.events)}")
        for kind, k in summary.items():
            out.append(f"  {kind:<16} {k['count']:>6}  first {k['first']}  last {k['last']}")
        out.append(f"actions in the graph: {len(self.actions)}")
        for a in self.actions:
            out.append(f"  {a['kind']:<11} {a['video_id']:<16} at {a['at']}  count {a['count']}")
        out.append(f"seeds: {len(self.seeds)}")
        for s in self.seeds:
            out.append(f"  {s.video_id:<16} {s.weight:7.3f}  {', '.join(s.reasons)}")
        if self.pool is None:
            out.append("stored pool: none")
        else:
            ids = [r.video_id for r in self.pool.recommendations]
            mark = "stale" if self.pool_stale else "valid"
            out.append(f"stored pool ({mark}): {len(ids)} videos: {' '.join(ids)}")
        out.append(
            f"shown: {len(self.shown)} videos" + (f": {' '.join(self.shown)}" * bool(self.shown))
        )
        out.append(f"impressions logged: {len(self.impressions)}")
        return "\n".join(out)


def state_events(graph: Graph, state_dir: str | Path) -> pd.DataFrame:
    """The count state's events for the graph's generation, read without changing the folder (a
    load may be in flight: its pending state is not ours to promote or drop)."""
    store = StateStore(state_dir)
    (meta,) = graph.run("meta_get")
    generation = meta["state_id"]
    if generation is None:
        return empty_events()
    for folder, sid in ((store.current, store.current_id()), (store.pending, store.pending_id())):
        if sid == generation:
            return store.read(folder).events
    raise GraphError(
        f"the graph was loaded with count state {generation[:8]} but {store.path} does not hold "
        "it: pass the --state-dir it was loaded with"
    )


def logged_impressions(path: Path, user_id: str) -> list[dict[str, str]]:
    """The user's rows of the impressions log (none when there is no log)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row["user_id"] == user_id]


def user_data(graph: Graph, user_id: str, settings: Settings, state_dir: str | Path) -> UserData:
    """Everything held about ``user_id``; a user nothing is held about is a NotFoundError."""
    events = state_events(graph, state_dir)
    mine = events[events["user_id"] == user_id].sort_values(["timestamp", "event"], kind="stable")
    (row,) = graph.run("user_actions", user_id=user_id)
    actions = [a for a in row["actions"] if a.get("video_id") is not None]
    actions.sort(key=lambda a: (a["video_id"], a["kind"]))
    impressions = logged_impressions(Path(state_dir) / IMPRESSIONS, user_id)
    if not row["known"] and mine.empty and not impressions:
        raise NotFoundError(f"unknown user {user_id!r}")
    (stored,) = graph.run("stored_recommendations", user_id=user_id)
    pool = None
    if stored["header"] is not None:
        pool = parse(user_id, stored["header"], stored["items"] or [])
    return UserData(
        user_id=user_id,
        events=mine.reset_index(drop=True),
        actions=actions,
        seeds=seed_set(actions, settings.seeds),
        pool=pool,
        pool_stale=bool(stored["stale"]),
        pool_key=stored["recs_key"],
        shown=list(stored["shown"] or []),
        impressions=impressions,
    )
