"""The recommendation service on the hand-built world of ``tests/worlds.py``, where the answer is known."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.worlds import ODD, build_world, ids, world_settings
from ytgraph.config import (
    Settings,
)
from ytgraph.db.graph import Graph
from ytgraph.errors import InputError, NotFoundError
from ytgraph.recommendation.service import Failed, Recommendations, recommend, recommend_many


@pytest.fixture
def world(graph: Graph, settings: Settings) -> tuple[Graph, Settings]:
    build_world(graph)
    return graph, world_settings(settings)


def test_exact_list_and_because(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    recs = recommend(graph, "u1", settings, n=4)
    assert ids(recs) == ["c", "g", "h", "f"]
    assert [r.because["seed_video_id"] for r in recs.recommendations] == ["a", "a", "a", "b"]
    assert [s.video_id for s in recs.seeds] == ["a", "b"]
    assert not recs.cold_start and recs.known_user
    quality = 0.3 * math.log(101) / math.log(1_000_001) + 0.15 * 0.6 + 0.1 * 1.0
    # views 100 of 1e6 max; rating: none in the catalogue -> 3/5; freshness: all uploaded at once
    want_scores = {"c": 1.4, "g": 1.3, "h": 0.7, "f": 0.58125}
    for r in recs.recommendations:
        assert r.score == pytest.approx(want_scores[r.video_id] + quality)
    data = recs.to_json()
    assert list(data) == ["user_id", "recommendations"]
    assert data["user_id"] == "u1"
    first = data["recommendations"][0]
    assert list(first) == ["video_id", "title", "score", "signals", "because", "paths"]
    assert first["because"] == {"seed_video_id": "a", "seed_title": "Title a"}
    assert first["paths"] == [["a", "c"], ["b", "c"]]
    assert [r["paths"] for r in data["recommendations"][1:]] == [
        [["a", "c", "g"], ["b", "c", "g"]],
        [["a", "d", "h"]],
        [["b", "f"]],
    ]
    assert first["signals"]["support"] == pytest.approx(2 / 3)
    # The pool behind it, and why d and e were passed over.
    assert recs.ranked is not None
    assert [r.video_id for r in recs.ranked.scored] == ["c", "g", "d", "h", "e", "f", "i", ODD]
    assert recs.ranked.cuts["d"].text() == "cut by the per-channel cap (channel X already has 2)"
    assert recs.ranked.cuts["e"].text() == "cut by the per-seed cap (seed a already has 3)"
    # Nothing the user touched is recommended: w (disliked) stays out.
    assert "w" not in {c.video_id for c in recs.candidates}


def test_longer_list_and_other_depths(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    # n = 12: every candidate the caps allow (c g h f i o'\k: i and o'\k are b's 2nd and 3rd),
    # then popular videos: not a, b, w (the user's) nor the six listed; k (most views), then
    # 100 views each by id: d (channel X is full: skipped), e; then j (50 views); l has no views.
    recs = recommend(graph, "u1", settings, n=12)
    assert ids(recs) == ["c", "g", "h", "f", "i", ODD, "k", "e", "j"]
    assert [r.because.get("kind") for r in recs.recommendations[6:]] == ["popular"] * 3
    assert not recs.cold_start and recs.backfilled == 3  # seeds, but too few candidates
    # depth 1: only the direct neighbours of a and b.
    one = recommend(graph, "u1", settings, n=4, depth=1)
    assert ids(one) == ["c", "d", "e", "f"]
    # exclude_watched off: w (disliked, so no seed) is a candidate again; seeds never are.
    settings.candidates.exclude_watched = False
    again = {c.video_id for c in recommend(graph, "u1", settings, n=12).candidates}
    assert "w" in again and not again & {"a", "b"}


def test_unknown_user(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    with pytest.raises(NotFoundError, match="unknown user 'nobody'"):
        recommend(graph, "nobody", settings)
    recs = recommend(graph, "nobody", settings, n=4, allow_unknown=True)
    assert recs.cold_start and not recs.known_user and recs.seeds == []
    assert ids(recs) == ["k", "a", "b", "c"]


def test_cold_start_is_the_popular_list(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    recs = recommend(graph, "u2", settings, n=4)
    assert recs.known_user and recs.seeds == [] and recs.cold_start
    assert recs.backfilled == 4
    # k has the most views; then 100 views each, same upload time -> by id; l (touched) is out.
    assert ids(recs) == ["k", "a", "b", "c"]
    first = recs.to_json()["recommendations"][0]
    assert first["because"] == {"kind": "popular", "popularity": 1_000_000}
    assert first["signals"] == {"popularity": 1.0}
    assert first["paths"] == []
    assert recs.recommendations[1].signals["popularity"] == pytest.approx(
        math.log(101) / math.log(1_000_001)
    )
    # The channel cap holds in the backfill too: with a cap of 1, d (X) follows c (X) no more.
    settings.ranking.max_per_channel = 1
    assert ids(recommend(graph, "u2", settings, n=6)) == ["k", "a", "b", "c", "e", "f"]


def test_short_list_is_filled_from_popular(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    recs = recommend(graph, "u3", settings, n=4)
    assert ids(recs) == ["h", "k", "a", "b"]
    assert recs.recommendations[0].because == {"seed_video_id": "d", "seed_title": "Title d"}
    assert [r.rank for r in recs.recommendations] == [1, 2, 3, 4]
    assert not recs.cold_start and recs.backfilled == 3


@pytest.mark.parametrize("n", [3, 61, "5", 4.0, True])
def test_bad_n(world: tuple[Graph, Settings], n: Any) -> None:
    graph, settings = world
    with pytest.raises(InputError, match="n must be"):
        recommend(graph, "u1", settings, n=n)


@pytest.mark.parametrize("depth", [0, 5, "2"])
def test_bad_depth(world: tuple[Graph, Settings], depth: Any) -> None:
    graph, settings = world
    with pytest.raises(InputError, match="depth"):
        recommend(graph, "u1", settings, depth=depth)


def test_many_users_one_driver(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    names: list[str] = []
    graph.tracer = lambda name, rows, secs: names.append(name)
    out = list(recommend_many(graph, ["u1", "nobody", "u2"], settings, n=4))
    assert isinstance(out[0], Recommendations) and ids(out[0]) == ["c", "g", "h", "f"]
    assert isinstance(out[1], Failed) and out[1].to_json() == {
        "user_id": "nobody",
        "error": "unknown user 'nobody'",
    }
    assert isinstance(out[2], Recommendations) and ids(out[2]) == ["k", "a", "b", "c"]
    # Round trips: actions + candidates per user with seeds, the catalogue figures once, and the
    # popular list only for u2 (u1's list is full; nobody stops after its actions).
    assert names == [
        "user_actions", "candidates", "catalog_stats",
        "user_actions",
        "user_actions", "popular",
    ]  # fmt: skip
    with pytest.raises(InputError):
        recommend_many(graph, ["u1"], settings, n=100)


def test_cached_figures_follow_another_process_load(world: tuple[Graph, Settings]) -> None:
    """A long-lived process caches the catalogue figures and the popular list; a load by another
    process (another Graph, its own cache) moves the generation, and the next request reads again."""
    graph, settings = world
    assert ids(recommend(graph, "u2", settings, n=4)) == ["k", "a", "b", "c"]  # k: most views
    other = Graph(graph.driver, graph.database)
    with other.transaction() as tx:
        tx.batches("upsert_videos", [{"video_id": "k", "props": {"views": 1}}], 10)
        tx.run("meta_set", state_id="another-load")
    # 100 views each for a, b, c, d...: now k (1 view) is last of the known ones.
    assert ids(recommend(graph, "u2", settings, n=4)) == ["a", "b", "c", "d"]
    assert graph.cache["generation"] == "another-load"
