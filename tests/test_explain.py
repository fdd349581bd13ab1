"""Explanations on the hand-built world of ``test_recommend`` (worked out in its docstring).

With n = 4 and depth 2, u1's list is c, g, h, f; d is cut by the channel cap, e by the seed cap, i
and o'\\k are below the cut-off, j is three hops away, l has no edges, w is watched (and disliked).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.worlds import ODD, build_world, world_settings
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.recommendation.explain import Explanation, cypher_string, explain

World = tuple[Graph, Settings]


@pytest.fixture
def world(graph: Graph, settings: Settings) -> World:
    build_world(graph)
    return graph, world_settings(settings)


def paths(e: Explanation) -> list[tuple[str, ...]]:
    return [p.videos for p in e.paths]


def why(world: World, video: str, user: str = "u1", **kw: Any) -> Explanation:
    graph, settings = world
    return explain(graph, user, video, settings, n=kw.pop("n", 4), **kw)


def test_recommended(world: World) -> None:
    e = why(world, "c")
    assert (e.verdict, e.outcome, e.rank, e.position) == (
        "recommended (rank 1)", "recommended", 1, 1,
    )  # fmt: skip
    assert paths(e) == [("a", "c"), ("b", "c")]
    assert [p.scores for p in e.paths] == [(10.0,), (4.0,)]
    assert [p.ranks for p in e.paths] == [(1,), (1,)]
    assert e.because == {"seed_video_id": "a", "seed_title": "Title a"}
    table = e.breakdown
    assert table is not None and e.score is not None
    assert table["relatedness"] == {"weight": 1.0, "value": 1.0, "contribution": 1.0}
    assert table["support"]["contribution"] == pytest.approx(0.3 * 2 / 3)
    assert sum(row["contribution"] for row in table.values()) == pytest.approx(e.score)
    text = e.text()
    assert "verdict: recommended (rank 1)" in text
    assert "Title a → Title c  (score 10)" in text
    assert "Title b → Title c  (score 4)" in text
    assert "total" in text
    data = e.to_json()
    assert data["verdict"] == "recommended (rank 1)"
    assert [p["path"] for p in data["paths"]] == [["a", "c"], ["b", "c"]]
    assert data["paths"][0]["titles"] == ["Title a", "Title c"]


def test_deeper_makes_j_reachable(world: World) -> None:
    assert why(world, "j").verdict == "not reachable within depth 2 from your seeds"
    # depth 3: j sums 2.5 + 1.5 = 4.0 (the top), support 2/3, depth 1/3 -> 1.2667, third after
    # c (1.4) and g (1.3); then d (X full), h and e (seed a full) are cut and f takes the 4th.
    e = why(world, "j", depth=3)
    assert e.verdict == "recommended (rank 3)"
    assert paths(e) == [("a", "c", "g", "j"), ("b", "c", "g", "j")]
    assert [p.scores for p in e.paths] == [(10.0, 2.0, 1.0), (4.0, 2.0, 1.0)]


def test_not_recommended_verdicts(world: World) -> None:
    cases = {
        "a": ("is one of your seeds", "seed", []),
        "w": ("already watched", "watched", [("a", "w")]),
        "l": ("not reachable within depth 2 from your seeds", "unreachable", []),
        "d": ("cut by the per-channel cap (channel X already has 2)", "cut_channel", [("a", "d")]),
        "e": ("cut by the per-seed cap (seed a already has 3)", "cut_seed", [("a", "e")]),
        "i": ("below the cut-off (ranked 7 of the pool, the list shows 4)", "below_cutoff",
              [("b", "i")]),
        ODD: ("below the cut-off (ranked 8 of the pool, the list shows 4)", "below_cutoff",
              [("b", ODD)]),
        "nope": ("unknown video", "unknown_video", []),
    }  # fmt: skip
    for video, (verdict, outcome, want) in cases.items():
        e = why(world, video)
        assert (e.verdict, e.outcome, paths(e)) == (verdict, outcome, want), video
        assert e.rank is None
    # A cut candidate still has its score and breakdown; an excluded video has none.
    assert why(world, "d").breakdown is not None and why(world, "w").breakdown is None


def test_candidate_cap(world: World) -> None:
    graph, settings = world
    # Best path strengths: c 1.0, g 1.0, d .8, h .8, f .75 ... -> a cap of 3 keeps c, g, d.
    settings.candidates = replace(settings.candidates, max_candidates=3)
    e = explain(graph, "u1", "f", settings, n=4)
    assert e.verdict == "cut by the candidate cap (only the 3 strongest candidates are ranked)"
    assert (e.outcome, paths(e), e.breakdown) == ("candidate_cap", [("b", "f")], None)


def test_popular_and_unknown_user(world: World) -> None:
    e = why(world, "k", user="u2")
    assert e.verdict == "recommended (rank 1)"
    assert e.because == {"kind": "popular", "popularity": 1_000_000}
    assert e.breakdown == {"popularity": {"weight": 1.0, "value": 1.0, "contribution": 1.0}}
    assert "because: popular" in e.text()
    graph, settings = world
    with pytest.raises(NotFoundError, match="unknown user 'nobody'"):
        explain(graph, "nobody", "c", settings)


def drawn(graph: Graph, text: str) -> set[tuple[Any, ...]]:
    """What Browser would draw: every returned path as (node ids, relationship types)."""
    records, _, _ = graph.driver.execute_query(text, database_=graph.database)
    out = set()
    for rec in records:
        p = rec["p"]
        nodes = tuple(n.get("video_id") or n.get("user_id") for n in p.nodes)
        out.add((nodes, tuple(r.type for r in p.relationships)))
    return out


def test_cypher_draws_exactly_the_paths(world: World) -> None:
    graph, _ = world
    e = why(world, "c")
    assert drawn(graph, e.cypher()) == {
        (("u1",), ()),
        (("u1", "a"), ("LIKED",)),
        (("u1", "b"), ("WATCHED",)),
        (("c",), ()),
        (("a", "c"), ("RELATED",)),
        (("b", "c"), ("RELATED",)),
    }
    # The user's edges to a watched target are drawn too (w was watched and rated).
    assert drawn(graph, why(world, "w").cypher()) == {
        (("u1",), ()),
        (("u1", "a"), ("LIKED",)),
        (("u1", "w"), ("WATCHED",)),
        (("u1", "w"), ("RATED",)),
        (("w",), ()),
        (("a", "w"), ("RELATED",)),
    }
    # Ids with a quote and a backslash are escaped, not broken out of.
    odd = why(world, ODD).cypher()
    assert cypher_string(ODD) in odd
    assert drawn(graph, odd) == {
        (("u1",), ()),
        (("u1", "b"), ("WATCHED",)),
        ((ODD,), ()),
        (("b", ODD), ("RELATED",)),
    }
    # Unreachable: the user, every seed, the video alone.
    assert drawn(graph, why(world, "l").cypher()) == {
        (("u1",), ()),
        (("u1", "a"), ("LIKED",)),
        (("u1", "b"), ("WATCHED",)),
        (("l",), ()),
    }


def test_cypher_string_escapes() -> None:
    assert cypher_string("plain") == "'plain'"
    assert cypher_string("it's") == "'it\\'s'"
    assert cypher_string("a\\b") == "'a\\\\b'"
    assert cypher_string("x\\' RETURN 1 //") == "'x\\\\\\' RETURN 1 //'"
    assert cypher_string("line\nbreak") == "'line\\u000abreak'"


def test_cypher_string_round_trips(world: World) -> None:
    graph, _ = world
    for value in ["plain", "it's", "a\\b", "x\\' RETURN 1 //", "line\nbreak\t", "\\u0041", "é'\""]:
        records, _, _ = graph.driver.execute_query(f"RETURN {cypher_string(value)} AS v")
        assert records[0]["v"] == value


def test_learned_weights_are_what_explain_shows(world: World) -> None:
    """Weights as ``tune --write`` sets them: the breakdown multiplies each signal by them, and
    the contributions add up to the score the ranker used."""
    graph, settings = world
    learned = {"w_relatedness": 0.25, "w_support": 1.0, "w_depth": 0.0, "w_views": 0.5}
    settings.ranking = replace(settings.ranking, **learned)
    e = explain(graph, "u1", "f", settings, n=4)
    table = e.breakdown
    assert table is not None and e.score is not None
    for k, w in learned.items():
        assert table[k.removeprefix("w_")]["weight"] == w
    assert sum(r["contribution"] for r in table.values()) == pytest.approx(e.score)
    # f: support 1/3 (seed b alone), relatedness 1.125 / 4.0 -> 0.25 * 0.28125 + 1.0 / 3 + ...
    assert table["support"]["contribution"] == pytest.approx(1.0 / 3)
    assert table["relatedness"]["contribution"] == pytest.approx(0.25 * 1.125 / 4.0)


def test_a_popular_candidate_is_explained_by_its_signals(world: World) -> None:
    """With ``candidates.popular`` the most viewed video k competes as a pathless candidate."""
    graph, settings = world
    settings.candidates = replace(settings.candidates, popular=3)
    settings.ranking = replace(settings.ranking, w_views=3.0)
    e = why((graph, settings), "k")
    assert e.because == {"kind": "popular", "popularity": 1_000_000}
    assert e.paths == [] and e.breakdown is not None
    assert e.breakdown["views"]["weight"] == 3.0  # the ranker's weights, not the backfill's
    assert e.breakdown["relatedness"]["value"] == 0.0
    assert e.verdict.startswith("recommended (rank 1)")
