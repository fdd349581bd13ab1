"""Candidate expansion in Cypher (``expand``) against the networkx brute force reference."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from tests.conftest import wipe
from tests.reference import expand_reference
from tests.worlds import Lists, RelatedWorld, related_worlds, to_networkx, write_graph
from ytgraph.config import CandidateSettings, Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import InputError
from ytgraph.recommendation.candidates import CandidatePath, expand


def path_key(p: CandidatePath) -> tuple[Any, ...]:
    return (p.seed, p.videos)


def assert_same(got: list[Any], want: dict[str, list[CandidatePath]]) -> None:
    assert [c.video_id for c in got] == list(want)
    for cand in got:
        ref = want[cand.video_id]
        assert {path_key(p) for p in cand.paths} == {path_key(p) for p in ref}
        assert len(cand.paths) == len(ref)
        by_key = {path_key(p): p for p in ref}
        for p in cand.paths:
            r = by_key[path_key(p)]
            assert p.scores == pytest.approx(r.scores)
            assert p.weights == pytest.approx(r.weights)
            assert p.strength == pytest.approx(r.strength)
        assert cand.best_strength == pytest.approx(ref[0].strength)


@hsettings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=related_worlds(10, 30))
def test_expand_matches_networkx_reference(graph: Graph, world: RelatedWorld) -> None:
    videos, lists, seeds, exclude, cs = world
    wipe(graph)
    graph.run_script("schema")
    write_graph(graph, videos, lists)
    got = expand(graph, seeds, cs, exclude=exclude)
    want = expand_reference(to_networkx(lists), seeds, cs, exclude=exclude)
    assert_same(got, want)
    assert not {c.video_id for c in got} & (set(seeds) | set(exclude))
    assert len(got) <= cs.max_candidates


# A hand-worked example. RELATED lists (score, so weight = score / best of the list):
#   a -> b (4, w 1), c (2, w .5)
#   b -> d (3, w 1), c (1.5, w .5)
#   c -> d (5, w 1), e (1, w .2)
#   d -> a (2, w 1)                      (back to the seed: never a candidate)
HAND: Lists = {
    "a": [("b", 4.0), ("c", 2.0)],
    "b": [("d", 3.0), ("c", 1.5)],
    "c": [("d", 5.0), ("e", 1.0)],
    "d": [("a", 2.0)],
}


def test_hand_worked_expansion(graph: Graph) -> None:
    write_graph(graph, list("abcde"), HAND)
    cs = CandidateSettings(depth=2, per_hop=2, max_candidates=100)
    got = {c.video_id: c for c in expand(graph, ["a"], cs)}
    # depth 1: a-b (1.0), a-c (0.5)
    # depth 2: a-b-d (1*1 = 1.0), a-b-c (1*.5 = .5), a-c-d (.5*1 = .5), a-c-e (.5*.2 = .1)
    # by best strength: b 1.0, d 1.0 (tie -> id), c 0.5, e 0.1
    assert list(got) == ["b", "d", "c", "e"]
    assert [(p.videos, p.strength) for p in got["b"].paths] == [(("a", "b"), 1.0)]
    assert [(p.videos, p.strength) for p in got["c"].paths] == [
        (("a", "b", "c"), 0.5),
        (("a", "c"), 0.5),
    ]
    assert [(p.videos, p.strength) for p in got["d"].paths] == [
        (("a", "b", "d"), 1.0),
        (("a", "c", "d"), 0.5),
    ]
    (e,) = got["e"].paths
    assert (e.videos, e.scores, e.weights) == (("a", "c", "e"), (2.0, 1.0), (0.5, 0.2))
    assert e.strength == pytest.approx(0.1)
    # per_hop 1 keeps only rank-1 edges: a-b-d; depth 1 only a's list; exclusion drops d.
    one = expand(graph, ["a"], replace(cs, per_hop=1))
    assert [(c.video_id, [p.videos for p in c.paths]) for c in one] == [
        ("b", [("a", "b")]),
        ("d", [("a", "b", "d")]),
    ]
    assert [c.video_id for c in expand(graph, ["a"], replace(cs, depth=1))] == ["b", "c"]
    assert [c.video_id for c in expand(graph, ["a"], cs, exclude=["d"])] == ["b", "c", "e"]
    # Cap: the two strongest.
    assert [c.video_id for c in expand(graph, ["a"], replace(cs, max_candidates=2))] == ["b", "d"]
    # Depth 3 goes back to a (a seed: not a candidate) and a-c-d-a is not simple.
    assert list(got) == [c.video_id for c in expand(graph, ["a"], replace(cs, depth=3))]


@pytest.mark.parametrize("depth", [0, 5, "2", 2.0, True])
def test_bad_depth_is_input_error(graph: Graph, settings: Settings, depth: Any) -> None:
    bad = replace(settings.candidates, depth=depth)
    with pytest.raises(InputError, match="depth"):
        expand(graph, ["a"], bad)
    with pytest.raises(InputError, match="depth"):
        expand_reference(nx.DiGraph(), ["a"], bad)


def test_no_seeds_no_query(graph: Graph, settings: Settings) -> None:
    assert expand(graph, [], settings.candidates) == []
