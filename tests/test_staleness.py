"""Only stale pools recomputed: a load marks every pool it can have changed, and no other.

The reference is the real thing: after the second load every user's pool is recomputed online and
compared with the stored one. Every pool that changed must be marked stale (nothing stale is ever
served as valid); pools left unmarked must equal the recomputation exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loaders.schema import Dataset, ReadReport
from tests.worlds import summary
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load
from ytgraph.ingest.staleness import catalog_moved, changed_lists, moved_videos, reaching
from ytgraph.recommendation.serve import parse, precompute, serve
from ytgraph.recommendation.service import recommend

DAY = 86_400


def two_loads(seed: int, late_users: int) -> tuple[Dataset, Dataset]:
    """A world whose first ``late_users`` users (by id) arrive only in the second load."""
    ev, videos = generate_world(GenerateConfig(users=300, videos=1000, days=8, seed=seed))
    late = sorted(ev["user_id"].unique())[:late_users]
    second = ev["user_id"].isin(late)
    first_part = Dataset(ev[~second], videos, ReadReport(read=len(ev), accepted=len(ev)))
    second_part = Dataset(
        ev[second].reset_index(drop=True),
        videos.iloc[:0],
        ReadReport(read=int(second.sum()), accepted=int(second.sum())),
    )
    return first_part, second_part


def stale_users(graph: Graph) -> set[str]:
    rows, _, _ = graph.driver.execute_query(
        "MATCH (u:User) WHERE u.recs_stale RETURN u.user_id AS u"
    )
    return {r["u"] for r in rows}


@pytest.mark.slow  # two loads of a small world and ~220 users recomputed twice
def test_a_load_marks_every_changed_pool_and_keeps_the_rest(
    graph: Graph, settings: Settings
) -> None:
    # cosine reads no N, so an untouched list stays bit for bit; tolerance 0: any change counts.
    # A pool of 12 from 1,000 videos: a pool of 60 from a world this small holds so much of the
    # catalogue that any load touches every one.
    s = Settings().with_overrides(
        {"related.normalization": "cosine", "serving.stale_tolerance": 0.0, "ranking.pool": 12}
    )
    s.load.state_dir = settings.load.state_dir
    first, second = two_loads(seed=3, late_users=2)
    load(first, s, graph, s.load.state_dir)
    assert precompute(graph, s).stored == first.events["user_id"].nunique()
    before = set(first.events["user_id"].unique())

    summary2 = load(second, s, graph, s.load.state_dir)
    stale = stale_users(graph)
    assert summary2.stored_pools == len(before) and summary2.stale_pools == len(stale)
    changed = set()
    for user in sorted(before):
        (row,) = graph.run("stored_recommendations", user_id=user)
        stored = parse(user, row["header"], row["items"])
        assert stored is not None
        if summary(stored) != summary(recommend(graph, user, s, n=12)):
            changed.add(user)
    assert changed <= stale, f"changed but not marked: {sorted(changed - stale)[:5]}"
    assert changed and 0 < len(stale) < len(before)  # the test would catch both mistakes

    report = precompute(graph, s, stale_only=True)
    late = set(second.events["user_id"].unique())
    assert report.users == len(stale) + len(late)  # the stale pools, and the new users'
    for user in sorted(before | late):
        served = serve(graph, user, s, n=12, rotate_pool=False)
        assert served.source == "precomputed"
        assert summary(served) == summary(recommend(graph, user, s, n=12))


def test_reaching_walks_back_over_the_top_edges() -> None:
    edges = pd.DataFrame(
        {"src": ["a", "b", "d", "e"], "dst": ["b", "c", "c", "a"], "rank": [1, 1, 5, 2]}
    )
    c = np.array(["c"], dtype=object)
    assert reaching(c, [edges], 0, 3).tolist() == ["c"]
    assert reaching(c, [edges], 1, 3).tolist() == ["b", "c"]  # d's edge to c is rank 5
    assert reaching(c, [edges], 2, 3).tolist() == ["a", "b", "c"]
    assert reaching(c, [edges], 3, 3).tolist() == ["a", "b", "c", "e"]
    assert reaching(c, [edges], 1, 5).tolist() == ["b", "c", "d"]


def test_changed_lists_where_a_walk_reads_them() -> None:
    old = pd.DataFrame(
        {
            "src": ["a", "a", "a", "b", "b", "c", "d", "e"],
            "dst": ["x", "y", "z", "x", "y", "x", "x", "x"],
            "rank": [1, 2, 3, 1, 2, 1, 1, 1],
            "score": [10.0, 5.0, 1.0, 4.0, 2.0, 2.0, 1.0, 8.0],
            "weight": [1.0, 0.5, 0.1, 1.0, 0.5, 1.0, 1.0, 1.0],
        }
    )
    new = old.copy()
    new.loc[[1, 2], "rank"] = [3, 2]  # a: y and z swap ranks (same weights): no walk changes...
    new.loc[4, ["score", "weight"]] = [2.6, 0.65]  # b: y's weight up 0.15
    new = new[new["src"] != "c"]  # c: lost its list
    new.loc[7, "score"] = 8.4  # e: the score up 5%, the weight (its own best) stays 1
    assert changed_lists(old, new, 0.1, per_hop=3).tolist() == ["b", "c"]
    assert changed_lists(old, new, 0.2, per_hop=3).tolist() == ["c"]
    # ...but with two edges a hop, z (weight 0.1) enters a's first two and y leaves them.
    assert changed_lists(old, new, 0.05, per_hop=2).tolist() == ["a", "b", "c"]
    assert changed_lists(old, new, 0.01, per_hop=3, by_score=True).tolist() == ["b", "c", "e"]
    assert changed_lists(old, old, 0.0, per_hop=3).tolist() == []


def test_moved_videos_and_the_catalogue() -> None:
    before = [
        {"video_id": "a", "views": 100.0, "sessions": 5, "rating_avg": 4.0},
        {"video_id": "b", "views": 100.0, "sessions": 5, "likes": 10, "favorites": 0},
        {"video_id": "c", "views": None, "sessions": 0},
    ]
    after = [
        {"video_id": "a", "views": 109.0, "sessions": 5, "rating_avg": 4.4},  # 9%; 0.4 of 5 stars
        {"video_id": "b", "views": 100.0, "sessions": 5, "likes": 5, "favorites": 7},  # 20% up
        {"video_id": "c", "views": None, "sessions": 1},  # from 0: against a floor of 1
    ]
    assert moved_videos(before, after, 0.1) == ["b", "c"]
    assert moved_videos(before, after, 0.05) == ["a", "b", "c"]
    stats = {"max_views": 1e6, "max_sessions": 50, "max_comments": 10, "max_likes": 100,
             "mean_rating": 3.5, "newest": 100 * DAY}  # fmt: skip
    assert not catalog_moved(stats, dict(stats), 0.0, 180.0)
    assert not catalog_moved(stats, {**stats, "max_sessions": 60}, 0.0, 180.0)  # views dominate
    assert catalog_moved(stats, {**stats, "max_views": 1e7}, 0.1, 180.0)  # log scale: +17%
    assert not catalog_moved(stats, {**stats, "max_views": 2e6}, 0.1, 180.0)  # +5%
    # 1 - 0.5 ** (days / 180): 20 days shift freshness by 7.4%, 30 days by 10.9%.
    assert not catalog_moved(stats, {**stats, "newest": 120 * DAY}, 0.1, 180.0)
    assert catalog_moved(stats, {**stats, "newest": 130 * DAY}, 0.1, 180.0)
