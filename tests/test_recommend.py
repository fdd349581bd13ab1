"""The recommendation service on a hand-built world in a real Neo4j, where the answer is known.

The world (``build_world``); RELATED lists as ``target (score, weight = score / best)``, by rank:

    a -> c (10, 1.0), d (8, .8), e (6, .6), w (5, .5)
    b -> c (4, 1.0), f (3, .75), i (2, .5), o'\\k (1, .25)
    c -> g (2, 1.0)        d -> h (5, 1.0)        g -> j (1, 1.0)
    k, l: no edges (k is the most viewed video)

Channels: c, g, d in X; h in Y; the rest none. Every video but k, j, l has 100 views and the same
upload time and no ratings, comments or likes, so the quality signals are equal and only the user
specificity orders the candidates.

u1 liked a (seed weight 2.5), watched b long (1.5), watched w and rated it 1 (disliked: no seed,
but excluded). With depth 2 the candidates and their sums of seed weight * path strength are:

    c: a 2.5*1.0 + b 1.5*1.0 = 4.0 (top)   g: a-c-g 2.5 + b-c-g 1.5 = 4.0   d: a 2.5*.8 = 2.0
    h: a-d-h 2.0   e: a 2.5*.6 = 1.5   f: b 1.5*.75 = 1.125   i: b 1.5*.5 = .75
    o'\\k: b 1.5*.25 = .375

Score (default weights; the equal quality part left out) = relatedness + .3 support + .2 / depth:
    c 1 + .3*2/3 + .2 = 1.4     g 1 + .2 + .1 = 1.3     d .5 + .1 + .2 = .8     h .5 + .1 + .1 = .7
    e .375 + .1 + .2 = .675     f .28125 + .3 = .58125  i .1875 + .3 = .4875    o'\\k .09375 + .3
Greedy with n = 4, at most 3 per seed and 2 per channel:
    c (a:1, X:1), g (a:2, X:2), d cut (channel X has 2), h (a:3, Y:1), e cut (seed a has 3), f (b:1)
So the list is c, g, h, f; i (7th) and o'\\k (8th) are below the cut-off; j is 3 hops away.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.test_candidates import related_rows
from ytgraph.config import (
    Settings,
    profile_settings,
)
from ytgraph.errors import InputError, NotFoundError
from ytgraph.graph import Graph
from ytgraph.ranking import forget_catalog_stats
from ytgraph.recommend import Failed, Recommendations, recommend, recommend_many

T0 = 1_600_000_000
T = 1_700_000_000
ODD = "o'\\k"  # an id with a quote and a backslash
RELATED = {
    "a": [("c", 10.0), ("d", 8.0), ("e", 6.0), ("w", 5.0)],
    "b": [("c", 4.0), ("f", 3.0), ("i", 2.0), (ODD, 1.0)],
    "c": [("g", 2.0)],
    "d": [("h", 5.0)],
    "g": [("j", 1.0)],
}
CHANNELS = {"c": "X", "g": "X", "d": "X", "h": "Y"}
VIEWS = {"k": 1_000_000, "j": 50, "l": None}
VIDEOS = [*"abcdefghijklw", ODD]


def title(v: str) -> str:
    return f"Title {v}"


def build_world(graph: Graph) -> None:
    videos = [
        {"video_id": v, "props": {"title": title(v), "views": VIEWS.get(v, 100), "uploaded_at": T0}}
        for v in VIDEOS
    ]
    watched = [
        {"user_id": "u1", "video_id": v, "count": 1, "first_at": T, "last_at": T,
         "watch_seconds": 300.0, "long_watches": long}
        for v, long in (("b", 1), ("w", 0))
    ]  # fmt: skip
    actions = [
        {"user_id": "u1", "video_id": "a", "kind": "like", "at": T, "rating": None, "count": 1},
        {"user_id": "u1", "video_id": "w", "kind": "rate", "at": T, "rating": 1.0, "count": 1},
        # u2 only disliked a video: a known user without seeds.
        {"user_id": "u2", "video_id": "l", "kind": "rate", "at": T, "rating": 1.0, "count": 1},
        # u3 likes d, whose only neighbour is h: one candidate, the rest is popular.
        {"user_id": "u3", "video_id": "d", "kind": "like", "at": T, "rating": None, "count": 1},
    ]
    with graph.transaction() as tx:
        tx.batches("upsert_videos", videos, 100)
        tx.batches(
            "link_channels", [{"video_id": v, "channel_id": c} for v, c in CHANNELS.items()], 100
        )
        tx.batches("replace_related", related_rows(RELATED), 100)
        tx.batches("upsert_watched", watched, 100)
        tx.batches("upsert_actions", actions, 100)
    forget_catalog_stats(graph)


def world_settings(settings: Settings) -> Settings:
    """The test settings with the recommender sections of the paper profile, whatever a toml says:
    the lists in the module doc were worked by hand for them (two hops, ...)."""
    paper = profile_settings("paper")
    settings.seeds = paper.seeds
    settings.candidates = paper.candidates
    settings.ranking = paper.ranking
    return settings


@pytest.fixture
def world(graph: Graph, settings: Settings) -> tuple[Graph, Settings]:
    build_world(graph)
    return graph, world_settings(settings)


def ids(recs: Recommendations) -> list[str]:
    return [r.video_id for r in recs.recommendations]


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
    assert recs.cold_start and recs.backfilled == 3
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
    assert recs.cold_start and recs.backfilled == 3


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
