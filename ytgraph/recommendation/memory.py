"""The graph a load would write, held in memory: what evaluation and tuning recommend from.

``MemoryGraph.build(dataset, settings)`` runs the load's own counting (sessions, c_i, c_ij, R_i) and
aggregation (WATCHED, explicit actions, video properties) but keeps the result in Python instead of
writing it to Neo4j. ``recommend`` runs unchanged on either: this module answers the four reads
the service makes (a user's actions, the candidate expansion, the catalogue figures and the popular
list) exactly as ``cypher/user_actions``, ``candidates``, ``catalog_stats`` and ``popular`` do, so
a search over settings can try dozens of configurations in the time one Neo4j load takes. A test
holds every user's list from a ``MemoryGraph`` equal to the list from a real Neo4j load.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loaders.schema import Dataset, split_log_events
from ytgraph.config import CandidateSettings, Settings
from ytgraph.ingest.covisit import count
from ytgraph.ingest.load import action_rows, video_durations, video_properties, watched_rows
from ytgraph.ingest.related import related_lists
from ytgraph.ingest.retract import live, retracted
from ytgraph.ingest.sessions import sessionize
from ytgraph.recommendation.candidates import FEATURES, Candidate, PathList, check_depth
from ytgraph.recommendation.ranking import CatalogStats, popularity_value

KINDS = {
    "like": "LIKED",
    "favorite": "FAVORITED",
    "playlist_add": "PLAYLISTED",
    "rate": "RATED",
}

# One edge of R_i: (dst, rank, score, weight).
Edge = tuple[str, int, float, float]


@dataclass
class MemoryGraph:
    """Videos, users' actions and R_i as a load writes them; see the module doc."""

    videos: dict[str, dict[str, Any]]  # video_id -> the node's properties (None = unset)
    actions: dict[str, list[dict[str, Any]]]  # user_id -> rows of user_actions.cypher
    related: dict[str, list[Edge]]  # src -> R_src, by rank
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, dataset: Dataset, settings: Settings) -> MemoryGraph:
        """Count, relate and aggregate ``dataset`` as ``load`` would into an empty graph."""
        events = split_log_events(dataset.events)[0].drop_duplicates(ignore_index=True)
        events = live(events[~retracted(events)])  # what is left after retractions, as a load
        videos = dataset.videos
        durations = video_durations(videos)
        watches = events[events["event"] == "watch"]
        cov = count(sessionize(watches, settings.sessions, durations))
        related = related_lists(cov, settings.related)

        nodes: dict[str, dict[str, Any]] = {}
        for vid, p in zip(videos["video_id"].tolist(), video_properties(videos), strict=True):
            nodes.setdefault(vid, {}).update(p)
        for vid in events["video_id"].unique().tolist():
            nodes.setdefault(vid, {})
        for vid, c in zip(cov.videos.tolist(), cov.counts.tolist(), strict=True):
            nodes.setdefault(vid, {})["sessions"] = int(c)

        # Rows of user_actions.cypher: one per (user, video, kind), plain Python values.
        pairs = events[["user_id", "video_id"]].drop_duplicates()
        rows = [
            {**r, "kind": "WATCHED", "at": r["last_at"], "rating": None}
            for r in watched_rows(events, pairs, durations, settings)
        ]
        rows += [
            {**r, "kind": KINDS[r["kind"]], "long_watches": None}
            for r in action_rows(events, pairs)
        ]
        actions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in rows:
            actions[a["user_id"]].append(
                {
                    "video_id": a["video_id"],
                    "title": nodes.get(a["video_id"], {}).get("title"),
                    "kind": a["kind"],
                    "at": int(a["at"]),
                    "rating": None if a["rating"] is None else float(a["rating"]),
                    "count": int(a["count"]),
                    "long_watches": None if a["long_watches"] is None else int(a["long_watches"]),
                }
            )

        lists: dict[str, list[Edge]] = defaultdict(list)
        for src, dst, rank, score, weight in zip(
            related["src"].tolist(),
            related["dst"].tolist(),
            related["rank"].tolist(),
            related["score"].tolist(),
            related["weight"].tolist(),
            strict=True,
        ):
            lists[src].append((dst, int(rank), float(score), float(weight)))
        return cls(videos=nodes, actions=dict(actions), related=dict(lists))

    # -------------------------------------------------------------------- the service's four reads

    def user_actions(self, user_id: str) -> list[dict[str, Any]]:
        """As ``user_actions.cypher``: the user's actions; [] for an unknown user."""
        return [dict(a) for a in self.actions.get(user_id, [])]

    def expand(
        self, seeds: Sequence[str], settings: CandidateSettings, exclude: Iterable[str] = ()
    ) -> list[Candidate]:
        """As ``candidates.cypher``: simple paths of 1..depth hops over the top ``per_hop`` edges
        of each video, candidates by best path strength (ties by id), at most ``max_candidates``."""
        depth = check_depth(settings.depth)
        if not seeds:
            return []
        k = int(settings.per_hop)
        banned = set(seeds) | set(exclude)
        related = self.related
        # (videos, scores, weights) of every path to each candidate, and its best strength. A
        # list's ranks run 1..len, so "rank <= k" is its first k edges.
        found: dict[str, list[tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]]] = {}
        best: dict[str, float] = {}
        for seed in seeds:
            if seed not in self.videos:
                continue
            frontier: list[tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...], float]]
            frontier = [((seed,), (), (), 1.0)]
            for hop in range(depth):
                grown = []
                for walk, scores, weights, strength in frontier:
                    for dst, _rank, score, weight in related.get(walk[-1], ())[:k]:
                        if dst in walk:  # simple paths only
                            continue
                        path = ((*walk, dst), (*scores, score), (*weights, weight))
                        s = strength * weight  # the product of the weights, left to right
                        if dst not in banned:
                            found.setdefault(dst, []).append(path)
                            if s > best.get(dst, -1.0):
                                best[dst] = s
                        if hop + 1 < depth:
                            grown.append((*path, s))
                frontier = grown
        order = sorted(found, key=lambda c: (-best[c], c))[: int(settings.max_candidates)]
        out = []
        for c in order:
            props = self.videos.get(c, {})
            paths = found[c]
            out.append(
                Candidate(
                    video_id=c,
                    title=props.get("title"),
                    channel_id=props.get("channel_id"),
                    category=props.get("category"),
                    features={f: props.get(f) for f in FEATURES},
                    paths=PathList(
                        [p[0] for p in paths], [p[1] for p in paths], [p[2] for p in paths]
                    ),
                )
            )
        return out

    def catalog_stats(self) -> CatalogStats:
        """As ``catalog_stats.cypher`` (cached, like the Neo4j figures, per object)."""
        stats = self.cache.get("catalog_stats")
        if stats is None:
            stats = self.cache["catalog_stats"] = _catalog_stats(self.videos.values())
        return stats

    def popular(self, exclude: Iterable[str], limit: int) -> list[dict[str, Any]]:
        """As ``popular.cypher``: most viewed (sessions when views are unknown), newest first
        among equals, then by id; leaving out ``exclude``."""
        ranked = self.cache.get("popular_order")
        if ranked is None:
            ranked = self.cache["popular_order"] = _popular_order(self.videos)
        skip = set(exclude)
        out = []
        for vid in ranked:
            if vid in skip:
                continue
            props = self.videos[vid]
            out.append({"video_id": vid, **{k: props.get(k) for k in _POPULAR_FIELDS}})
            if len(out) >= limit:
                break
        return out


_POPULAR_FIELDS = ("title", *FEATURES, "channel_id", "category")


def _catalog_stats(videos: Iterable[dict[str, Any]]) -> CatalogStats:
    rows = list(videos)

    def top(values: Iterable[Any]) -> float | None:
        known = [float(v) for v in values if v is not None]
        return max(known) if known else None

    rated = [
        (float(v["rating_avg"]), v.get("rating_count"))
        for v in rows
        if v.get("rating_avg") is not None
    ]
    counted = [(avg, float(c)) for avg, c in rated if c is not None]
    rating_n = sum(c for _, c in counted)
    return CatalogStats(
        max_views=top(v.get("views") for v in rows),
        max_sessions=top(v.get("sessions") for v in rows),
        max_comments=top(v.get("comments") for v in rows),
        max_likes=top(float(v.get("likes") or 0) + float(v.get("favorites") or 0) for v in rows),
        newest=top(v.get("uploaded_at") for v in rows),
        mean_rating=sum(a * c for a, c in counted) / rating_n if counted and rating_n > 0 else None,
    )


def _popular_order(videos: dict[str, dict[str, Any]]) -> list[str]:
    ids, popularity, uploaded = [], [], []
    for vid, p in videos.items():
        value = popularity_value(p)
        if value is None:
            continue
        ids.append(vid)
        popularity.append(value)
        uploaded.append(p.get("uploaded_at"))
    up = np.array([np.nan if u is None else float(u) for u in uploaded])
    frame = pd.DataFrame(
        {"id": ids, "pop": popularity, "unknown": np.isnan(up), "up": np.nan_to_num(up)}
    )
    frame = frame.sort_values(
        ["pop", "unknown", "up", "id"], ascending=[False, True, False, True], kind="stable"
    )
    return frame["id"].tolist()
