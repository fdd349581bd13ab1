"""Stored pools, rotation and impressions on the hand-built world of ``tests/worlds.py``.

A stored pool must be exactly what ``recommend`` ranks online, be served while its settings match
and no load marked it stale, and otherwise give way to the online computation. A visit shows the
pool items the user was shown least; with no history, exactly ``recommend(n)``.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.worlds import build_world, ids, world_settings
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.recommendation.ranking import Recommendation
from ytgraph.recommendation.serve import (
    ImpressionRecorder,
    dump,
    parse,
    precompute,
    recommendation_key,
    rotate,
    serve,
)
from ytgraph.recommendation.service import Recommendations, recommend

USERS = ["u1", "u2", "u3"]
POOL = 60


@pytest.fixture
def world(graph: Graph, settings: Settings) -> tuple[Graph, Settings]:
    build_world(graph)
    return graph, world_settings(settings)


def same(a: Recommendations, b: Recommendations) -> None:
    assert a.to_json() == b.to_json()
    assert [(r.rank, r.channel_id, r.category) for r in a.recommendations] == [
        (r.rank, r.channel_id, r.category) for r in b.recommendations
    ]
    assert [[(p.scores, p.weights) for p in r.paths] for r in a.recommendations] == [
        [(p.scores, p.weights) for p in r.paths] for r in b.recommendations
    ]
    assert a.seeds == b.seeds
    assert (a.cold_start, a.known_user, a.n, a.depth) == (b.cold_start, b.known_user, b.n, b.depth)


def stored_pool(graph: Graph, user: str) -> Recommendations:
    (row,) = graph.run("stored_recommendations", user_id=user)
    pool = parse(user, row["header"], row["items"])
    assert pool is not None
    return pool


def drop_edge_behind_the_store(graph: Graph) -> None:
    """Change what online recommend() gives u1 without a load (no stale mark)."""
    graph.driver.execute_query(
        "MATCH (:Video {video_id: 'a'})-[r:RELATED]->(:Video {video_id: 'c'}) DELETE r"
    )


def test_precompute_stores_every_users_pool(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    report = precompute(graph, settings)
    assert (report.users, report.stored, report.failed) == (3, 3, [])
    for user in USERS:
        same(stored_pool(graph, user), recommend(graph, user, settings, n=POOL))
        # With no impressions yet a visit is exactly the online top n: a pool's prefix.
        for n in (4, 5, 12):
            served = serve(graph, user, settings, n=n)
            assert served.source == "precomputed"
            same(served, recommend(graph, user, settings, n=n))
    assert ids(serve(graph, "u1", settings, n=4)) == ["c", "g", "h", "f"]


def test_the_stored_pool_is_what_is_served(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    precompute(graph, settings, ["u1"])
    drop_edge_behind_the_store(graph)
    online = recommend(graph, "u1", settings, n=4)
    assert ids(online) != ["c", "g", "h", "f"]  # the graph changed under the store...
    served = serve(graph, "u1", settings, n=4)
    assert served.source == "precomputed" and ids(served) == ["c", "g", "h", "f"]  # ...unseen


def test_a_stale_pool_is_served_online(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    precompute(graph, settings)
    drop_edge_behind_the_store(graph)
    with graph.transaction() as tx:
        tx.batches("stale_mark_users", ["u1"], 10)  # what a load does for a changed user
    served = serve(graph, "u1", settings, n=4)
    assert served.source == "online"
    same(served, recommend(graph, "u1", settings, n=4))
    assert ids(served) != ["c", "g", "h", "f"]
    assert serve(graph, "u3", settings, n=4).source == "precomputed"  # not marked: still valid
    report = precompute(graph, settings, stale_only=True)
    assert (report.users, report.stored, report.all_users) == (1, 1, 3)
    assert serve(graph, "u1", settings, n=4).source == "precomputed"


@pytest.mark.parametrize(
    "change",
    [
        {"depth": 1},
        {"ranking.w_views": 2.0},
        {"seeds.half_life_days": 1.0},
        {"candidates.per_hop": 2},
    ],
)
def test_other_settings_are_served_online(
    world: tuple[Graph, Settings], change: dict[str, float]
) -> None:
    graph, settings = world
    precompute(graph, settings)
    depth = change.get("depth")
    for path, value in change.items():
        if "." in path:
            section, name = path.split(".")
            setattr(
                settings, section, dataclasses.replace(getattr(settings, section), **{name: value})
            )
    hops = None if depth is None else int(depth)
    served = serve(graph, "u1", settings, n=4, depth=hops)
    assert served.source == "online"
    same(served, recommend(graph, "u1", settings, n=4, depth=hops))
    if depth is None:  # other settings: every pool is computed again
        assert precompute(graph, settings, stale_only=True).users == 3


def expected_visits(pool: list[str], n: int, visits: int) -> list[list[str]]:
    """The rotation rule worked by hand: each visit takes the n least shown, ties by pool rank."""
    shown: Counter[str] = Counter()
    out = []
    for _ in range(visits):
        pick = sorted(sorted(range(len(pool)), key=lambda i: (shown[pool[i]], i))[:n])
        out.append([pool[i] for i in pick])
        shown.update(pool[i] for i in pick)
    return out


def test_each_visit_shows_what_was_shown_least(
    world: tuple[Graph, Settings], tmp_path: Path
) -> None:
    graph, settings = world
    precompute(graph, settings)
    pool = ids(recommend(graph, "u1", settings, n=POOL))
    assert len(pool) > 8  # the world's candidates and the popular backfill
    visits = len(pool) // 4 + 2  # once round the pool, and again
    log = tmp_path / "impressions.csv"
    recorder = ImpressionRecorder(graph, log=log)
    got = []
    for _ in range(visits):
        got.append(ids(serve(graph, "u1", settings, n=4, recorder=recorder)))
        recorder.flush()
    assert got == expected_visits(pool, 4, visits)
    assert not set(got[1]) & set(got[0])  # a returning user sees new videos
    assert pool[0] in got[-2] + got[-1]  # once round the pool, the best come back
    with log.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["video_id"] for r in rows] == [v for visit in got for v in visit]
    assert {(r["user_id"], r["event"], r["arm"], r["surface"]) for r in rows} == {
        ("u1", "impression", "ytgraph", "browse")
    }
    assert [int(r["position"]) for r in rows] == [1, 2, 3, 4] * visits
    # A stable list on request: the pool's top n whatever was shown.
    stable = [ids(serve(graph, "u1", settings, n=4, rotate_pool=False)) for _ in range(2)]
    assert stable == [pool[:4], pool[:4]]


def test_the_visit_query_rotates_as_the_reference_does(world: tuple[Graph, Settings]) -> None:
    """serve_pool.cypher picks the items on the server; ``rotate`` is the rule in Python."""
    graph, settings = world
    precompute(graph, settings, ["u1"])
    pool = stored_pool(graph, "u1")
    pool_ids = ids(pool)
    rng = random.Random(5)
    for _ in range(40):
        shown = [rng.choice([*pool_ids, "gone"]) for _ in range(rng.randint(0, 80))]
        graph.driver.execute_query(
            "MATCH (u:User {user_id: 'u1'}) SET u.shown = $shown", shown=shown
        )
        for n in (4, 7, 12):
            served = serve(graph, "u1", settings, n=n)
            assert served.source == "precomputed"
            same(served, rotate(pool, shown, n))


def test_shown_keeps_the_latest_impressions(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    recorder = ImpressionRecorder(graph, keep=6)
    seen = []
    for _ in range(3):
        recs = serve(graph, "u1", settings, n=4, recorder=recorder)
        seen += ids(recs)
        recorder.flush()
    (row,) = graph.run("stored_recommendations", user_id="u1")
    assert row["shown"] == seen[-6:]


def test_background_recorder_flushes_and_close_writes_the_rest(
    world: tuple[Graph, Settings],
) -> None:
    graph, settings = world
    recorder = ImpressionRecorder(graph, interval=0.05)
    recs = serve(graph, "u3", settings, n=4, recorder=recorder)
    recorder.close()
    (row,) = graph.run("stored_recommendations", user_id="u3")
    assert row["shown"] == ids(recs) and recorder.written == 4


def pool_of(size: int) -> Recommendations:
    recs = [
        Recommendation(f"v{i}", None, 1.0 - i / 100, {}, {"seed_video_id": "s"}, rank=i + 1)
        for i in range(size)
    ]
    return Recommendations(user_id="u", recommendations=recs, seeds=[], n=size)


@given(
    size=st.integers(1, 60),
    n=st.integers(1, 60),
    shown=st.lists(st.integers(0, 70), max_size=200),
)
def test_rotation_picks_the_least_shown_in_pool_order(size: int, n: int, shown: list[int]) -> None:
    pool = pool_of(size)
    history = [f"v{i}" for i in shown]  # ids beyond the pool: shown once, gone from it since
    got = [int(r.video_id[1:]) for r in rotate(pool, history, n).recommendations]
    times = Counter(shown)
    assert len(got) == min(n, size) and got == sorted(got)
    rest = [i for i in range(size) if i not in got]
    for i in got:
        for j in rest:  # nothing left out was shown less, or as often and ranked higher
            assert (times[i], i) < (times[j], j)
    assert [r.rank for r in rotate(pool, history, n).recommendations] == list(
        range(1, len(got) + 1)
    )


def test_unknown_users_fail_alone(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    report = precompute(graph, settings, ["u1", "nobody", "u3"])
    assert (report.users, report.stored) == (3, 2)
    assert [f.user_id for f in report.failed] == ["nobody"]
    assert "unknown user" in str(report.failed[0].error)
    with pytest.raises(NotFoundError):
        serve(graph, "nobody", settings, n=4)
    cold = serve(graph, "nobody", settings, n=4, allow_unknown=True)
    assert cold.source == "online" and all(r.popular for r in cold.recommendations)


def test_precompute_again_is_idempotent(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    first = precompute(graph, settings)
    second = precompute(graph, settings)
    assert first.key == second.key
    rows, _, _ = graph.driver.execute_query(
        "MATCH (u:User) WHERE u.recs IS NOT NULL "
        "RETURN u.user_id AS u, u.recs_key AS k, u.recs_stale AS s ORDER BY u"
    )
    assert [(r["u"], r["k"], r["s"]) for r in rows] == [(u, first.key, False) for u in USERS]


def test_pools_from_before_a_load_are_not_stored(world: tuple[Graph, Settings]) -> None:
    graph, _ = world
    graph.run("meta_set", write=True, state_id="after-a-load")
    row = {"user_id": "u1", "recs": "{}", "ids": [], "key": "k"}
    with graph.transaction() as tx:
        (old,) = tx.run("store_recommendations", rows=[row], generation="before-the-load")
        (cur,) = tx.run("store_recommendations", rows=[row], generation="after-a-load")
    assert (old["stored"], cur["stored"]) == (0, 1)


def test_key_names_every_setting_but_not_the_list_length(settings: Settings) -> None:
    s = world_settings(settings)
    base = recommendation_key(s, 60, 2)
    assert base == recommendation_key(s, 60, 2)
    assert base != recommendation_key(s, 40, 2)
    assert base != recommendation_key(s, 60, 3)
    # Settings that recommend() overrides by argument don't split the key: the depth, and n
    # (a pool serves every list length up to its size).
    s2 = dataclasses.replace(s, candidates=dataclasses.replace(s.candidates, depth=4))
    assert recommendation_key(s2, 60, 2) == base
    s3 = dataclasses.replace(s, ranking=dataclasses.replace(s.ranking, n=5))
    assert recommendation_key(s3, 60, 2) == base
    s4 = dataclasses.replace(s, ranking=dataclasses.replace(s.ranking, max_per_channel=1))
    assert recommendation_key(s4, 60, 2) != base


def test_a_list_of_another_format_is_not_misread(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    recs = recommend(graph, "u1", settings, n=4)
    header, items = dump(recs)
    back = parse("u1", header, items)
    assert back is not None
    same(back, recs)
    assert parse("u1", header.replace('"format":2', '"format":999'), items) is None
