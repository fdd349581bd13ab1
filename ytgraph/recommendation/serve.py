"""Batch precomputation and fast serving (paper 3.2): lists computed ahead, read back in one query.

YouTube computed its recommendations in batch several times a day and served them from a store,
rather than expanding and ranking on every page view. ``precompute`` runs ``recommend`` for many
users and keeps each list on its ``User`` node, keyed by the graph generation (the state id a load
writes) and the recommender settings; ``serve`` returns the stored list when its key matches and
computes it online otherwise, so a load or a settings change never serves a stale list::

    report = precompute(graph, settings)        # every user; run after each load
    recs = serve(graph, "u1", settings)         # recs.source == "precomputed"
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ytgraph.config import Settings
from ytgraph.console import Progress
from ytgraph.db.graph import Graph
from ytgraph.recommendation.candidates import CandidatePath
from ytgraph.recommendation.ranking import Recommendation
from ytgraph.recommendation.seeds import Seed
from ytgraph.recommendation.service import (
    Failed,
    Recommendations,
    check_user_id,
    list_shape,
    recommend,
    recommend_many,
)

FORMAT = 1  # version of the stored JSON; a different version is recomputed, not misread


def recommendation_key(state_id: str | None, settings: Settings, n: int, depth: int) -> str:
    """What a stored list depends on: the graph generation, list length, depth and every
    seed, candidate and ranking setting. Equal keys mean ``recommend`` would give the same list."""
    parts = {
        "format": FORMAT,
        "state": state_id,
        "n": n,
        "depth": depth,
        # vars(), not dataclasses.asdict(): these sections are flat, and asdict's deep copy was
        # most of the cost of a served request's key.
        "seeds": vars(settings.seeds),
        "candidates": {**vars(settings.candidates), "depth": depth},
        "ranking": {**vars(settings.ranking), "n": n},
    }
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# ------------------------------------------------------------------------------ stored form


def dump(recs: Recommendations) -> str:
    """A list as compact JSON: everything ``serve`` needs to give back the same Recommendations."""
    return json.dumps(
        {
            "format": FORMAT,
            "n": recs.n,
            "depth": recs.depth,
            "known_user": recs.known_user,
            "seeds": [[s.video_id, s.title, s.weight, list(s.reasons)] for s in recs.seeds],
            "recs": [
                {
                    "video_id": r.video_id,
                    "title": r.title,
                    "score": r.score,
                    "signals": r.signals,
                    "because": r.because,
                    "channel_id": r.channel_id,
                    "category": r.category,
                    "rank": r.rank,
                    "paths": [[list(p.videos), list(p.scores), list(p.weights)] for p in r.paths],
                }
                for r in recs.recommendations
            ],
        },
        separators=(",", ":"),
    )


def parse(user_id: str, text: str) -> Recommendations | None:
    """The Recommendations of ``dump``, or None if the text is of another format."""
    data = json.loads(text)
    if data.get("format") != FORMAT:
        return None
    recommendations = [
        Recommendation(
            video_id=r["video_id"],
            title=r["title"],
            score=r["score"],
            signals=r["signals"],
            because=r["because"],
            paths=[CandidatePath(v[0], tuple(v), tuple(s), tuple(w)) for v, s, w in r["paths"]],
            channel_id=r["channel_id"],
            category=r["category"],
            rank=r["rank"],
        )
        for r in data["recs"]
    ]
    return Recommendations(
        user_id=user_id,
        recommendations=recommendations,
        seeds=[Seed(v, t, w, tuple(why)) for v, t, w, why in data["seeds"]],
        known_user=data["known_user"],
        n=data["n"],
        depth=data["depth"],
        source="precomputed",
    )


# ------------------------------------------------------------------------------ serving


def serve(
    graph: Graph,
    user_id: str,
    settings: Settings,
    *,
    n: int | None = None,
    depth: int | None = None,
    allow_unknown: bool = False,
) -> Recommendations:
    """The stored list of ``user_id`` if it was computed for this graph generation and these
    settings (one query), else ``recommend`` online. Same arguments and errors as ``recommend``."""
    size, hops = list_shape(settings, n, depth)
    check_user_id(user_id)
    (row,) = graph.run("stored_recommendations", user_id=user_id)
    stored = row["recs"]
    if stored is not None and row["recs_key"] == recommendation_key(
        row["state_id"], settings, size, hops
    ):
        recs = parse(user_id, stored)
        if recs is not None:
            return recs
    return recommend(graph, user_id, settings, n=size, depth=hops, allow_unknown=allow_unknown)


# ------------------------------------------------------------------------------ the batch


@dataclass
class PrecomputeReport:
    """What a batch did: users asked for, lists stored, users that failed (and why), time taken."""

    users: int
    stored: int
    key: str
    seconds: float
    failed: list[Failed] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "stored": self.stored,
            "failed": [f.to_json() for f in self.failed],
            "key": self.key,
            "seconds": round(self.seconds, 3),
            "users_per_s": round(self.users / self.seconds, 1) if self.seconds > 0 else None,
        }


def precompute(
    graph: Graph,
    settings: Settings,
    user_ids: Iterable[str] | None = None,
    *,
    n: int | None = None,
    depth: int | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> PrecomputeReport:
    """Compute and store the lists of ``user_ids`` (default: every user).

    Each batch of ``batch_size`` lists is written in a transaction of its own; a failed write
    raises ``GraphError`` and leaves the lists of earlier batches stored and valid. A load during
    the batch makes its lists stale (the key names the generation read at the start), and
    ``serve`` then computes online: never a list from a graph that is gone.
    """
    size, hops = list_shape(settings, n, depth)
    t0 = time.perf_counter()
    ids = [r["user_id"] for r in graph.run("all_users")] if user_ids is None else list(user_ids)
    (state,) = graph.run("meta_get")
    key = recommendation_key(state["state_id"], settings, size, hops)
    step: Progress = progress or (lambda _s, _d, _t: None)
    report = PrecomputeReport(users=len(ids), stored=0, key=key, seconds=0.0)
    rows: list[dict[str, str]] = []

    def flush() -> None:
        if rows:
            with graph.transaction() as tx:
                tx.batches("store_recommendations", rows, batch_size)
            report.stored += len(rows)
            rows.clear()

    for done, item in enumerate(recommend_many(graph, ids, settings, n=size, depth=hops), 1):
        if isinstance(item, Failed):
            report.failed.append(item)
        else:
            rows.append({"user_id": item.user_id, "recs": dump(item), "key": key})
            if len(rows) >= batch_size:
                flush()
        step("precompute", done, len(ids))
    flush()
    report.seconds = time.perf_counter() - t0
    return report
