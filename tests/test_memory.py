"""MemoryGraph against a real Neo4j load: every user's list, seeds, scores and reasons are equal.

Evaluation and tuning recommend from a MemoryGraph; they may only do so because it gives what a
load into Neo4j gives. The reference here is the real thing: ``load`` into the test server and
``recommend`` over Bolt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loaders.schema import Dataset, ReadReport
from tests.worlds import summary
from ytgraph.config import Settings, profile_settings
from ytgraph.db.graph import Graph
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.reads import catalog_stats
from ytgraph.recommendation.service import recommend


def world(seed: int) -> Dataset:
    ev, videos = generate_world(GenerateConfig(users=120, videos=150, days=10, seed=seed))
    # A few ratings and likes by hand on top, and a video with no metadata row at all.
    extra = pd.DataFrame(
        {
            "user_id": ["u_extra", "u_extra", "u_extra"],
            "video_id": [videos["video_id"].iloc[0], videos["video_id"].iloc[1], "v_unlisted"],
            "timestamp": [int(ev["timestamp"].max())] * 3,
            "event": ["rate", "like", "watch"],
            "watch_seconds": [np.nan, np.nan, 30.0],
            "rating": [2.0, np.nan, np.nan],
        }
    )
    ev = pd.concat([ev, extra.astype(ev.dtypes.to_dict())], ignore_index=True)
    return Dataset(ev, videos, ReadReport(read=len(ev), accepted=len(ev)))


CASES = {
    "default": {},
    "paper": profile_settings("paper").overrides(),
    "deep and capped": {
        "candidates.depth": 3,
        "candidates.per_hop": 4,
        "candidates.max_candidates": 30,
        "ranking.max_per_category": 2,
        "related.normalization": "product",
        "related.damping": 5.0,
    },
    "popular pool": {"candidates.popular": 30, "ranking.w_views": 3.0, "seeds.max_seeds": 3},
}


@pytest.mark.slow  # three loads of a small world and ~120 users each way
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_list_equals_the_neo4j_one(
    graph: Graph, settings: Settings, case: str, tmp_path: object
) -> None:
    s = settings.with_overrides(CASES[case])
    data = world(seed=5)
    load(data, s, graph, settings.load.state_dir)
    memory = MemoryGraph.build(data, s)

    assert memory.catalog_stats() == catalog_stats(graph)
    users = sorted(data.events["user_id"].unique().tolist())
    assert len(users) > 80
    differing = []
    for user in users:
        a = recommend(graph, user, s)
        b = recommend(memory, user, s)
        assert [x.video_id for x in a.seeds] == [x.video_id for x in b.seeds], user
        assert [x.weight for x in a.seeds] == pytest.approx([x.weight for x in b.seeds])
        if summary(a) != summary(b):
            differing.append(user)
    assert not differing, f"{len(differing)} users differ, e.g. {differing[:3]}"
    if CASES[case].get("candidates.popular"):
        # Popular candidates really compete: some lists mix them with related ones.
        mixed = [
            u for u in users
            if len({r.popular for r in recommend(memory, u, s).recommendations}) == 2
        ]  # fmt: skip
        assert mixed
    # An unknown user is unknown to both.
    assert recommend(memory, "nobody", s, allow_unknown=True).known_user is False
