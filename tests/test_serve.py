"""Batch precomputation and serving on the hand-built world of ``test_recommend`` in a real Neo4j.

A stored list must be exactly what ``recommend`` computes online, be served only for the graph
generation and settings it was computed for, and otherwise give way to the online computation.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.worlds import build_world, ids, world_settings
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.recommendation.serve import dump, parse, precompute, recommendation_key, serve
from ytgraph.recommendation.service import Recommendations, recommend

USERS = ["u1", "u2", "u3"]


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


def drop_edge_behind_the_store(graph: Graph) -> None:
    """Change what online recommend() gives u1 without a load (the state id stays)."""
    graph.driver.execute_query(
        "MATCH (:Video {video_id: 'a'})-[r:RELATED]->(:Video {video_id: 'c'}) DELETE r"
    )


def new_generation(graph: Graph) -> None:
    """What a load does to the graph's bookkeeping: a new state id."""
    graph.run("meta_set", write=True, state_id="after-a-load")


def test_precompute_stores_exactly_the_online_lists(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    report = precompute(graph, settings, n=4)
    assert (report.users, report.stored, report.failed) == (3, 3, [])
    for user in USERS:
        served = serve(graph, user, settings, n=4)
        assert served.source == "precomputed"
        same(served, recommend(graph, user, settings, n=4))
    assert ids(serve(graph, "u1", settings, n=4)) == ["c", "g", "h", "f"]


def test_the_stored_list_is_what_is_served(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    precompute(graph, settings, ["u1"], n=4)
    drop_edge_behind_the_store(graph)
    online = recommend(graph, "u1", settings, n=4)
    assert ids(online) != ["c", "g", "h", "f"]  # the graph changed under the store...
    served = serve(graph, "u1", settings, n=4)
    assert served.source == "precomputed" and ids(served) == ["c", "g", "h", "f"]  # ...unseen


def test_a_new_generation_is_served_online(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    precompute(graph, settings, n=4)
    drop_edge_behind_the_store(graph)
    new_generation(graph)
    served = serve(graph, "u1", settings, n=4)
    assert served.source == "online"
    same(served, recommend(graph, "u1", settings, n=4))
    assert ids(served) != ["c", "g", "h", "f"]


@pytest.mark.parametrize(
    "change",
    [
        {"n": 5},
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
    precompute(graph, settings, n=4)
    n, depth = change.get("n", 4), change.get("depth")
    for path, value in change.items():
        if "." in path:
            section, name = path.split(".")
            setattr(
                settings, section, dataclasses.replace(getattr(settings, section), **{name: value})
            )
    served = serve(graph, "u1", settings, n=int(n), depth=None if depth is None else int(depth))
    assert served.source == "online"
    same(
        served,
        recommend(graph, "u1", settings, n=int(n), depth=None if depth is None else int(depth)),
    )


def test_unknown_users_fail_alone(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    report = precompute(graph, settings, ["u1", "nobody", "u3"], n=4)
    assert (report.users, report.stored) == (3, 2)
    assert [f.user_id for f in report.failed] == ["nobody"]
    assert "unknown user" in str(report.failed[0].error)
    with pytest.raises(NotFoundError):
        serve(graph, "nobody", settings, n=4)
    cold = serve(graph, "nobody", settings, n=4, allow_unknown=True)
    assert cold.source == "online" and all(r.popular for r in cold.recommendations)


def test_precompute_again_is_idempotent(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    first = precompute(graph, settings, n=4)
    second = precompute(graph, settings, n=4)
    assert first.key == second.key
    rows, _, _ = graph.driver.execute_query(
        "MATCH (u:User) WHERE u.recs IS NOT NULL RETURN u.user_id AS u, u.recs_key AS k ORDER BY u"
    )
    assert [(r["u"], r["k"]) for r in rows] == [(u, first.key) for u in USERS]


def test_key_names_the_generation_and_every_setting(settings: Settings) -> None:
    s = world_settings(settings)
    base = recommendation_key("g1", s, 12, 2)
    assert base == recommendation_key("g1", s, 12, 2)
    assert base != recommendation_key("g2", s, 12, 2)
    assert base != recommendation_key(None, s, 12, 2)
    assert base != recommendation_key("g1", s, 13, 2)
    assert base != recommendation_key("g1", s, 12, 3)
    # Settings that recommend() overrides by argument don't split the key.
    s2 = dataclasses.replace(s, candidates=dataclasses.replace(s.candidates, depth=4))
    assert recommendation_key("g1", s2, 12, 2) == base
    s3 = dataclasses.replace(s, ranking=dataclasses.replace(s.ranking, max_per_channel=1))
    assert recommendation_key("g1", s3, 12, 2) != base


def test_a_list_of_another_format_is_not_misread(world: tuple[Graph, Settings]) -> None:
    graph, settings = world
    recs = recommend(graph, "u1", settings, n=4)
    text = dump(recs)
    back = parse("u1", text)
    assert back is not None
    same(back, recs)
    assert parse("u1", text.replace('"format":1', '"format":999')) is None
