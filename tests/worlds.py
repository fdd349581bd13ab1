"""A hand-built world for the recommendation service, where every list is worked out by hand.

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

from typing import Any

import networkx as nx
import pandas as pd
from hypothesis import strategies as st

from loaders.schema import Dataset, ReadReport, empty_videos
from ytgraph.config import CandidateSettings, Settings, profile_settings
from ytgraph.db.graph import Graph
from ytgraph.recommendation.service import Recommendations

Lists = dict[str, list[tuple[str, float]]]  # source -> [(destination, score)], best first
# videos, lists, seeds, exclude, settings: one random world of the expansion tests
RelatedWorld = tuple[list[str], Lists, list[str], list[str], CandidateSettings]


def related_rows(lists: Lists) -> list[dict[str, Any]]:
    """``replace_related`` rows: rank 1..N in list order, weight = score / best score."""
    rows = []
    for src, dst in lists.items():
        if not dst:
            continue
        best = dst[0][1]
        rows.append(
            {
                "src": src,
                "dst": [d for d, _ in dst],
                "score": [s for _, s in dst],
                "cooccurrences": [int(s * 10) for _, s in dst],
                "rank": list(range(1, len(dst) + 1)),
                "weight": [s / best for _, s in dst],
            }
        )
    return rows


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
    graph.cache.clear()  # what a load does: the catalogue figures and the popular list changed


def world_settings(settings: Settings) -> Settings:
    """The test settings with the recommender sections of the paper profile, whatever a toml says:
    the lists in the module doc were worked by hand for them (two hops, ...)."""
    paper = profile_settings("paper")
    settings.seeds = paper.seeds
    settings.candidates = paper.candidates
    settings.ranking = paper.ranking
    return settings


def ids(recs: Recommendations) -> list[str]:
    return [r.video_id for r in recs.recommendations]


def summary(recs: Recommendations) -> list[tuple[str, float, str, tuple[str, ...]]]:
    """What two lists must agree on to be the same list: ids, scores, reasons and paths."""
    return [
        (
            r.video_id,
            round(r.score, 12),
            str(r.because.get("seed_video_id", r.because.get("kind"))),
            tuple("/".join(p.videos) for p in r.paths),
        )
        for r in recs.recommendations
    ]


def write_graph(graph: Graph, videos: list[str], lists: Lists) -> None:
    """Videos and RELATED through the project's own write queries, in one transaction."""
    with graph.transaction() as tx:
        tx.batches("ensure_videos", videos, 1000)
        tx.batches("replace_related", related_rows(lists), 1000)


def to_networkx(lists: Lists) -> nx.DiGraph:
    g = nx.DiGraph()
    for row in related_rows(lists):
        g.add_node(row["src"])
        for i, dst in enumerate(row["dst"]):
            g.add_edge(
                row["src"], dst, score=row["score"][i], weight=row["weight"][i], rank=row["rank"][i]
            )
    return g


@st.composite
def related_worlds(draw: st.DrawFn, fewest: int, most: int) -> RelatedWorld:
    """Random related lists over ``fewest..most`` videos, seeds, exclusions and expansion settings."""
    n = draw(st.integers(fewest, most))
    videos = [f"v{i:02d}" for i in range(n)]
    lists: Lists = {}
    for v in videos:
        others = [o for o in videos if o != v]  # related lists never hold the video itself
        dst = draw(st.lists(st.sampled_from(others), unique=True, max_size=6))
        # Scores from a small set make ties in strength (and so in the candidate order) likely.
        scores = sorted(
            (draw(st.sampled_from([1.0, 2.0, 3.0, 4.0, 6.0])) for _ in dst), reverse=True
        )
        lists[v] = list(zip(dst, scores, strict=True))
    seeds = draw(st.lists(st.sampled_from(videos), unique=True, min_size=1, max_size=4))
    exclude = draw(st.lists(st.sampled_from(videos), unique=True, max_size=5))
    cs = CandidateSettings(
        depth=draw(st.integers(1, 3)),
        per_hop=draw(st.integers(1, 4)),
        max_candidates=draw(st.one_of(st.integers(1, 6), st.just(10_000))),
    )
    return videos, lists, seeds, exclude, cs


def dataset(events: pd.DataFrame, videos: pd.DataFrame | None = None) -> Dataset:
    """A read dataset of ``events`` (all accepted), as the loaders hand it to ``load``."""
    n = len(events)
    return Dataset(
        events=events.reset_index(drop=True),
        videos=videos if videos is not None else empty_videos(),
        report=ReadReport(read=n, accepted=n),
    )


def graph_dump(
    graph: Graph, meta: bool = False, exact: bool = False, visible: bool = False
) -> tuple[list[Any], list[Any]]:
    """Every node and relationship with its labels or type and all its properties, sorted, so two
    graphs compare with ==; the meta node's bookkeeping (state id, generations) only when ``meta``;
    floats rounded to 9 places unless ``exact`` (two write paths of the same figures).

    List generation numbers (``RELATED.gen``, ``Video.rgen``) depend on the history of loads, not
    on what the graph holds, so they are left out; a staged list or video still shows, unless
    ``visible``: then only what readers see (current lists, no staged videos)."""
    where = "" if meta else "WHERE NOT n:YtgraphMeta"
    if visible:
        where += (" AND " if where else "WHERE ") + "n.staged IS NULL"
    nodes, _, _ = graph.driver.execute_query(
        f"MATCH (n) {where} RETURN labels(n) AS l, properties(n) AS p"
    )
    # Endpoints by their key (every label has a unique one), so a relationship's row does not
    # change when only a property of its endpoint does.
    key = "[labels({0})[0], coalesce({0}.video_id, {0}.user_id, {0}.channel_id, {0}.name, {0}.key)]"
    current = "WHERE type(r) <> 'RELATED' OR r.gen = a.rgen" if visible else ""
    rels, _, _ = graph.driver.execute_query(
        f"MATCH (a)-[r]->(b) {current} "
        f"RETURN type(r) AS t, {key.format('a')} AS a, {key.format('b')} AS b, properties(r) AS p"
    )
    history = {"gen", "rgen"} if not meta else set()

    def value(v: Any) -> Any:
        if isinstance(v, float):
            return v if exact else round(v, 9)
        return tuple(v) if isinstance(v, list) else v  # lists as tuples: rows stay hashable

    def norm(p: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted((k, value(v)) for k, v in p.items() if k not in history))

    return (
        sorted((tuple(sorted(r["l"])), norm(r["p"])) for r in nodes),
        sorted((r["t"], tuple(r["a"]), tuple(r["b"]), norm(r["p"])) for r in rels),
    )
