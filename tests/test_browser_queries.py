"""The analysts' Browser queries, guide and style, against a small world loaded by hand.

The world goes in through the project's own write queries (the loader's row shapes); every expected
result is computed here in plain Python from the same world, never read back from Neo4j.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import re
import urllib.request
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import neo4j
import pytest

from ytgraph import browser, connect
from ytgraph.config import CandidateSettings, SeedSettings, Settings
from ytgraph.connect import Connection
from ytgraph.graph import Graph, parameters, query
from ytgraph.recommend import user_actions as graph_user_actions
from ytgraph.seeds import seed_set
from ytgraph.server import ManagedServer

T = 1_700_000_000  # the world's "now", epoch seconds
DAY = 86_400

# --- the world ------------------------------------------------------------------------------
VIDEOS: dict[str, dict[str, Any]] = {
    "v_cat": {"title": "Cat Piano", "channel_id": "ch_a", "category": "Comedy", "views": 9000.0},
    "v_dog": {"title": "Dog Surf", "channel_id": "ch_a", "category": "Comedy", "views": 7000.0},
    "v_owl": {"title": "Owl Song", "channel_id": "ch_b", "category": "Music", "views": 5000.0},
    "v_fox": {"title": "Fox Jump", "channel_id": "ch_b", "category": "Music", "views": 3000.0},
    "v_bee": {"title": "Bee Dance", "channel_id": "ch_c", "category": "Science", "views": 2500.0},
    "v_elk": {"title": "Elk Run", "channel_id": "ch_c", "category": "Science", "views": 1000.0},
    "v_yak": {"title": "Yak Talk", "channel_id": "ch_a", "category": "Comedy", "views": 800.0},
}
ID_ONLY = ["v_ant", "v_gnu"]  # known from events or the crawl only: no metadata
SESSIONS = {  # c_i
    "v_cat": 10,
    "v_dog": 8,
    "v_owl": 6,
    "v_fox": 5,
    "v_bee": 4,
    "v_elk": 3,
    "v_yak": 2,
    "v_gnu": 1,
}
COVIEWS = {  # c_ij, unordered
    ("v_cat", "v_dog"): 5,
    ("v_cat", "v_owl"): 3,
    ("v_dog", "v_owl"): 2,
    ("v_owl", "v_fox"): 3,
    ("v_dog", "v_fox"): 2,
    ("v_fox", "v_bee"): 2,
    ("v_bee", "v_elk"): 2,
    ("v_cat", "v_elk"): 2,
    ("v_dog", "v_bee"): 2,
    ("v_cat", "v_yak"): 1,
    ("v_elk", "v_gnu"): 1,
}
TOP_N, MIN_COUNT = 3, 2
WATCHED: list[dict[str, Any]] = [
    {
        "user_id": "u_ann",
        "video_id": "v_cat",
        "count": 2,
        "first_at": T - 3 * DAY,
        "last_at": T - DAY,
        "watch_seconds": 400.0,
        "long_watches": 1,
    },
    {
        "user_id": "u_ann",
        "video_id": "v_dog",
        "count": 1,
        "first_at": T - 10 * DAY,
        "last_at": T - 10 * DAY,
        "watch_seconds": 60.0,
        "long_watches": 0,
    },
    {
        "user_id": "u_ann",
        "video_id": "v_owl",
        "count": 1,
        "first_at": T - 2 * DAY,
        "last_at": T - 2 * DAY,
        "watch_seconds": 30.0,
        "long_watches": 0,
    },
    {
        "user_id": "u_bob",
        "video_id": "v_fox",
        "count": 3,
        "first_at": T - 4 * DAY,
        "last_at": T - DAY,
        "watch_seconds": 900.0,
        "long_watches": 2,
    },
    {
        "user_id": "u_bob",
        "video_id": "v_bee",
        "count": 1,
        "first_at": T,
        "last_at": T,
        "watch_seconds": 20.0,
        "long_watches": 0,
    },
]
ACTIONS: list[dict[str, Any]] = [
    {
        "user_id": "u_ann",
        "video_id": "v_cat",
        "kind": "like",
        "at": T - DAY,
        "rating": None,
        "count": 1,
    },
    {
        "user_id": "u_ann",
        "video_id": "v_owl",
        "kind": "rate",
        "at": T - 2 * DAY,
        "rating": 2.0,
        "count": 1,
    },
    {
        "user_id": "u_ann",
        "video_id": "v_bee",
        "kind": "favorite",
        "at": T - 40 * DAY,
        "rating": None,
        "count": 1,
    },
    {"user_id": "u_ann", "video_id": "v_elk", "kind": "rate", "at": T, "rating": 4.5, "count": 2},
    {
        "user_id": "u_ann",
        "video_id": "v_yak",
        "kind": "playlist_add",
        "at": T - 5 * DAY,
        "rating": None,
        "count": 1,
    },
    {
        "user_id": "u_bob",
        "video_id": "v_fox",
        "kind": "rate",
        "at": T - DAY,
        "rating": 3.0,
        "count": 1,
    },
    {
        "user_id": "u_bob",
        "video_id": "v_owl",
        "kind": "like",
        "at": T - 3 * DAY,
        "rating": None,
        "count": 1,
    },
    {
        "user_id": "u_bob",
        "video_id": "v_dog",
        "kind": "rate",
        "at": T - 7 * DAY,
        "rating": 4.0,
        "count": 1,
    },
]
CRAWL = {"v_cat": ["v_dog", "v_ant", "v_fox"], "v_owl": ["v_cat"]}  # YouTube's lists, in order
KIND_TYPE = {
    "like": "LIKED",
    "favorite": "FAVORITED",
    "playlist_add": "PLAYLISTED",
    "rate": "RATED",
}
ACTION_TYPES = ("WATCHED", "LIKED", "FAVORITED", "PLAYLISTED", "RATED")


def c(i: str, j: str) -> int:
    return COVIEWS.get((i, j), COVIEWS.get((j, i), 0))


def related_lists() -> dict[str, list[dict[str, Any]]]:
    """R_i with the product normalisation, min_count, top_n; ties: larger c_ij, then smaller id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for i in SESSIONS:
        cands = [
            (c(i, j) / (SESSIONS[i] * SESSIONS[j]), c(i, j), j)
            for j in SESSIONS
            if j != i and c(i, j) >= MIN_COUNT
        ]
        cands.sort(key=lambda t: (-t[0], -t[1], t[2]))
        top = cands[:TOP_N]
        out[i] = [
            {"dst": j, "score": s, "cooccurrences": cij, "rank": r + 1, "weight": s / top[0][0]}
            for r, (s, cij, j) in enumerate(top)
        ]
    return out


R = related_lists()
EDGES = {(i, e["dst"]): e for i, lst in R.items() for e in lst}


def channel_of(v: str) -> str | None:
    return VIDEOS.get(v, {}).get("channel_id")


def all_relationships() -> set[tuple[str, str, str]]:
    """Every relationship of the world as (type, start id, end id)."""
    rels = {("RELATED", a, b) for a, b in EDGES}
    rels |= {("YT_RELATED", s, d) for s, lst in CRAWL.items() for d in lst}
    rels |= {("WATCHED", w["user_id"], w["video_id"]) for w in WATCHED}
    rels |= {(KIND_TYPE[a["kind"]], a["user_id"], a["video_id"]) for a in ACTIONS}
    rels |= {("UPLOADED_BY", v, p["channel_id"]) for v, p in VIDEOS.items()}
    rels |= {("IN_CATEGORY", v, p["category"]) for v, p in VIDEOS.items()}
    return rels


def load_world(graph: Graph) -> None:
    """Write the world with the loader's own queries and row shapes."""
    videos = [{"video_id": v, "props": {"video_id": v, **p}} for v, p in VIDEOS.items()]
    related = [
        {
            "src": i,
            "dst": [e["dst"] for e in lst],
            "score": [e["score"] for e in lst],
            "cooccurrences": [e["cooccurrences"] for e in lst],
            "rank": [e["rank"] for e in lst],
            "weight": [e["weight"] for e in lst],
        }
        for i, lst in sorted(R.items())
    ]
    crawl = [{"src": s, "dst": d, "position": list(range(1, len(d) + 1))} for s, d in CRAWL.items()]
    with graph.transaction() as tx:
        tx.batches("upsert_videos", videos, 3)
        tx.batches("ensure_videos", ID_ONLY, 10)
        tx.batches(
            "link_channels",
            [{"video_id": v, "channel_id": p["channel_id"]} for v, p in VIDEOS.items()],
            10,
        )
        tx.batches(
            "link_categories",
            [{"video_id": v, "category": p["category"]} for v, p in VIDEOS.items()],
            10,
        )
        tx.batches("upsert_watched", WATCHED, 10)
        tx.batches("upsert_actions", ACTIONS, 10)
        tx.batches(
            "set_video_counts", [{"video_id": v, "sessions": n} for v, n in SESSIONS.items()], 10
        )
        tx.batches("replace_related", related, 2)
        tx.batches("replace_crawl_related", crawl, 10)


# --- expected results, in plain Python ----------------------------------------------------
def user_actions(user: str) -> list[dict[str, Any]]:
    rows = [
        {
            "video_id": w["video_id"],
            "kind": "WATCHED",
            "at": w["last_at"],
            "rating": None,
            "long_watches": w["long_watches"],
        }
        for w in WATCHED
        if w["user_id"] == user
    ]
    rows += [
        {
            "video_id": a["video_id"],
            "kind": KIND_TYPE[a["kind"]],
            "at": a["at"],
            "rating": a["rating"],
            "long_watches": None,
        }
        for a in ACTIONS
        if a["user_id"] == user
    ]
    return rows


def expected_seeds(user: str, s: SeedSettings) -> list[dict[str, Any]]:
    rows = user_actions(user)
    latest = max(r["at"] for r in rows)
    disliked = {
        r["video_id"] for r in rows if r["kind"] == "RATED" and r["rating"] < s.rating_threshold
    }
    weight: dict[str, float] = defaultdict(float)
    reasons: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        v, kind = r["video_id"], r["kind"]
        if v in disliked:
            continue
        if kind == "RATED":
            base = (
                s.weight_rate
                * (r["rating"] - s.rating_threshold + 1)
                / (5 - s.rating_threshold + 1)
            )
            reason = f"rated {r['rating']:g}"
        elif kind == "WATCHED":
            long = r["long_watches"] > 0
            base = s.weight_long_watch if long else s.weight_watch
            reason = "watched long" if long else "watched"
        else:
            base = {
                "FAVORITED": s.weight_favorite,
                "LIKED": s.weight_like,
                "PLAYLISTED": s.weight_playlist_add,
            }[kind]
            reason = {
                "FAVORITED": "favorited",
                "LIKED": "liked",
                "PLAYLISTED": "added to a playlist",
            }[kind]
        age = (latest - r["at"]) / DAY
        weight[v] += base * (0.5 ** (age / s.half_life_days) if s.half_life_days > 0 else 1.0)
        reasons[v].append(reason)
    order = sorted(weight, key=lambda v: (-weight[v], v))[: s.max_seeds]
    return [
        {
            "video_id": v,
            "title": VIDEOS[v]["title"],
            "weight": weight[v],
            "reasons": sorted(reasons[v]),
        }
        for v in order
    ]


def seed_videos(user: str, threshold: float) -> set[str]:
    rows = user_actions(user)
    disliked = {r["video_id"] for r in rows if r["kind"] == "RATED" and r["rating"] < threshold}
    return {r["video_id"] for r in rows} - disliked


def paths_from(src: str, k: float) -> list[tuple[str, ...]]:
    """Every 1- and 2-hop RELATED walk out of src over rank <= k (no edge used twice)."""
    out: list[tuple[str, ...]] = []
    for a, b in EDGES:
        if a == src and EDGES[(a, b)]["rank"] <= k:
            out.append((a, b))
            out += [(a, b, d) for (x, d) in EDGES if x == b and EDGES[(x, d)]["rank"] <= k]
    return out


def why_paths(user: str, video: str, k: float, threshold: float) -> list[tuple[str, ...]]:
    """The provenance paths: from each of the user's seeds (but the video) to the video."""
    return [
        p
        for s in sorted(seed_videos(user, threshold) - {video})
        for p in paths_from(s, k)
        if p[-1] == video
    ]


def why_expected(
    user: str, video: str, k: float, threshold: float
) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Nodes (ids) and relationships of the provenance paths, with the user's action edges."""
    nodes: set[str] = set()
    rels: set[tuple[str, str, str]] = set()
    for p in why_paths(user, video, k, threshold):
        nodes |= {user, *p}
        rels |= {("RELATED", a, b) for a, b in itertools.pairwise(p)}
        rels |= {
            r for r in all_relationships() if r[0] in ACTION_TYPES and r[1] == user and r[2] == p[0]
        }
    return nodes, rels


def why_table(user: str, video: str, k: float, threshold: float) -> list[dict[str, Any]]:
    rows = []
    for p in why_paths(user, video, k, threshold):
        strength = 1.0
        for a, b in itertools.pairwise(p):
            strength *= EDGES[(a, b)]["weight"]
        rows.append({"path": [VIDEOS[v]["title"] for v in p], "strength": strength})
    return sorted(rows, key=lambda r: (-r["strength"], r["path"]))


def browser_params(params: dict[str, Any]) -> dict[str, Any]:
    """What the Browser sends for ``:param {...}``: every number is a JavaScript float."""
    return {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in params.items()
    }


def expect_video_related(p: dict[str, Any]) -> list[dict[str, Any]]:
    v = p["video_id"]
    return [
        {
            "rank": e["rank"],
            "video_id": e["dst"],
            "title": VIDEOS[e["dst"]]["title"],
            "score": e["score"],
            "weight": e["weight"],
            "cooccurrences": e["cooccurrences"],
            "c_i": SESSIONS[v],
            "c_j": SESSIONS[e["dst"]],
        }
        for e in R[v]
    ][: int(p["n"])]


def expect_crawl_vs_ours(p: dict[str, Any]) -> list[dict[str, Any]]:
    v = p["video_id"]
    yt = {d: i + 1 for i, d in enumerate(CRAWL.get(v, []))}
    ours = {e["dst"]: e for e in R.get(v, [])}
    rows = []
    for d in set(yt) | set(ours):
        pos, e = yt.get(d), ours.get(d)
        rows.append(
            {
                "video_id": d,
                "title": VIDEOS.get(d, {}).get("title"),
                "youtube_position": pos,
                "our_rank": e["rank"] if e else None,
                "our_score": e["score"] if e else None,
                "listed_by": "ours only"
                if pos is None
                else "YouTube only"
                if e is None
                else "both",
            }
        )
    rows.sort(key=lambda r: (r["youtube_position"] or 10**9, r["our_rank"] or 0, r["video_id"]))
    return rows


def expect_top_by_sessions(p: dict[str, Any]) -> list[dict[str, Any]]:
    order = sorted(SESSIONS, key=lambda v: (-SESSIONS[v], v))[: int(p["n"])]
    return [
        {
            "video_id": v,
            "title": VIDEOS.get(v, {}).get("title"),
            "sessions": SESSIONS[v],
            "views": VIDEOS.get(v, {}).get("views"),
            "related": len(R.get(v, [])),
            "watchers": sum(1 for w in WATCHED if w["video_id"] == v),
        }
        for v in order
    ]


def expect_strongest_pairs(p: dict[str, Any]) -> list[dict[str, Any]]:
    pairs = {tuple(sorted(e)) for e in EDGES}
    rows = [
        {
            "video_a": a,
            "title_a": VIDEOS[a]["title"],
            "video_b": b,
            "title_b": VIDEOS[b]["title"],
            "cooccurrences": c(a, b),
            "b_in_list_of_a": (a, b) in EDGES,
            "a_in_list_of_b": (b, a) in EDGES,
        }
        for a, b in pairs
    ]
    rows.sort(key=lambda r: (-r["cooccurrences"], r["video_a"], r["video_b"]))
    return rows[: int(p["n"])]


def all_video_ids() -> list[str]:
    return sorted(set(VIDEOS) | set(ID_ONLY))


def expect_videos_without_related(p: dict[str, Any]) -> list[dict[str, Any]]:
    none = [v for v in all_video_ids() if not R.get(v)]
    none.sort(key=lambda v: (-SESSIONS.get(v, 0), v))
    return [
        {
            "video_id": v,
            "title": VIDEOS.get(v, {}).get("title"),
            "sessions": SESSIONS.get(v),
            "views": VIDEOS.get(v, {}).get("views"),
            "listed_by": sum(1 for (_, b) in EDGES if b == v),
            "youtube_related": len(CRAWL.get(v, [])),
        }
        for v in none
    ][: int(p["n"])]


def expect_one_way_relations(p: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for (a, b), e in EDGES.items():
        if (b, a) in EDGES:
            continue
        rb = R.get(b, [])
        rows.append(
            {
                "src": a,
                "src_title": VIDEOS[a]["title"],
                "dst": b,
                "dst_title": VIDEOS[b]["title"],
                "rank": e["rank"],
                "score": e["score"],
                "cooccurrences": e["cooccurrences"],
                "dst_list_size": len(rb),
                "dst_weakest_score": rb[-1]["score"] if rb else None,
            }
        )
    rows.sort(key=lambda r: (-r["cooccurrences"], -r["score"], r["src"], r["dst"]))
    return rows[: int(p["n"])]


def expect_channel_relations(p: dict[str, Any]) -> list[dict[str, Any]]:
    groups: dict[str | None, list[tuple[str, str]]] = defaultdict(list)
    for a, b in EDGES:
        if channel_of(a) == p["channel_id"]:
            groups[channel_of(b)].append((a, b))
    rows = [
        {
            "to_channel": ch,
            "same_channel": ch == p["channel_id"],
            "relations": len(es),
            "from_videos": len({a for a, _ in es}),
            "to_videos": len({b for _, b in es}),
            "cooccurrences": sum(EDGES[e]["cooccurrences"] for e in es),
        }
        for ch, es in groups.items()
    ]
    rows.sort(key=lambda r: (-r["relations"], r["to_channel"] is None, r["to_channel"] or ""))
    return rows


def expect_crawl_overlap(p: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for v, yt in CRAWL.items():
        ours = [e["dst"] for e in R.get(v, [])]
        both = len(set(yt) & set(ours))
        rows.append(
            {
                "video_id": v,
                "title": VIDEOS.get(v, {}).get("title"),
                "youtube_list": len(set(yt)),
                "our_list": len(ours),
                "overlap": both,
                "jaccard": both / (len(set(yt)) + len(ours) - both),
            }
        )
    rows.sort(key=lambda r: (-r["overlap"], -r["jaccard"], r["video_id"]))
    return rows[: int(p["n"])]


def expect_example_ids(p: dict[str, Any]) -> list[dict[str, Any]]:
    video = min((v for v in R if R[v]), key=lambda v: (-SESSIONS.get(v, 0), v))
    acted: Counter[str] = Counter(r[1] for r in all_relationships() if r[0] in ACTION_TYPES)
    user = min(acted, key=lambda u: (-acted[u], u))
    touched = {r[2] for r in all_relationships() if r[1] == user}
    reach: Counter[str] = Counter(
        q[-1]
        for s in seed_videos(user, p["rating_threshold"])
        for q in paths_from(s, p["k"])
        if q[-1] not in touched
    )
    channels = Counter(channel_of(v) for v in VIDEOS)
    return [
        {
            "video_id": video,
            "user_id": user,
            "recommended_video_id": min(reach, key=lambda v: (-reach[v], v)) if reach else None,
            "channel_id": min(channels, key=lambda ch: (-channels[ch], ch or "")),
            "crawled_video_id": min(CRAWL, key=lambda v: (-len(CRAWL[v]), v)),
        }
    ]


TABLE_EXPECTATIONS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "video_related": expect_video_related,
    "crawl_vs_ours": expect_crawl_vs_ours,
    "top_by_sessions": expect_top_by_sessions,
    "strongest_pairs": expect_strongest_pairs,
    "videos_without_related": expect_videos_without_related,
    "one_way_relations": expect_one_way_relations,
    "channel_relations": expect_channel_relations,
    "crawl_overlap": expect_crawl_overlap,
    "example_ids": expect_example_ids,
}
GRAPH_QUERIES = ("video_neighbourhood", "why_recommended")
SPECIAL = ("user_seeds",)
QUERIES = {q.name: q for q in browser.guide_queries()}


# --- helpers over Neo4j results ------------------------------------------------------------
def _key(entity: neo4j.graph.Node | neo4j.graph.Relationship) -> str:
    props = dict(entity)
    for name in ("video_id", "user_id", "channel_id", "name"):
        if name in props:
            return str(props[name])
    raise AssertionError(f"no id on {entity!r}")


def graph_of(records: list[neo4j.Record]) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Nodes (by id) and relationships (type, start id, end id) found anywhere in the records."""
    nodes: set[str] = set()
    rels: set[tuple[str, str, str]] = set()

    def visit(value: Any) -> None:
        if isinstance(value, neo4j.graph.Path):
            for n in value.nodes:
                visit(n)
            for r in value.relationships:
                visit(r)
        elif isinstance(value, neo4j.graph.Node):
            nodes.add(_key(value))
        elif isinstance(value, neo4j.graph.Relationship):
            assert value.start_node is not None and value.end_node is not None
            rels.add((value.type, _key(value.start_node), _key(value.end_node)))
            nodes.update((_key(value.start_node), _key(value.end_node)))
        elif isinstance(value, list):
            for v in value:
                visit(v)

    for record in records:
        for value in record.values():
            visit(value)
    return nodes, rels


def run(graph: Graph, q: browser.BrowserQuery, params: dict[str, Any]) -> list[neo4j.Record]:
    records, summary, _ = graph.driver.execute_query(
        q.cypher, params, database_=graph.database, routing_=neo4j.RoutingControl.READ
    )
    assert summary.query_type == "r", f"{q.name} is not read-only"
    return list(records)


def assert_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [list(r) for r in got[:1]] == [list(r) for r in want[:1]], "columns differ"
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        for k, wv in w.items():
            if isinstance(wv, float):
                assert g[k] == pytest.approx(wv, rel=1e-12), (k, g, w)
            else:
                assert g[k] == wv, (k, g, w)


@pytest.fixture
def world(graph: Graph) -> Graph:
    load_world(graph)
    return graph


# --- the queries ---------------------------------------------------------------------------
def test_world_is_what_the_queries_need() -> None:
    """The fixture exercises every branch: one-way edges, a disliked seed, 2-hop provenance."""
    assert any((b, a) not in EDGES for a, b in EDGES)
    assert "v_owl" not in seed_videos("u_ann", 3.5)
    nodes, rels = why_expected("u_ann", "v_fox", 10, 3.5)
    assert {
        len(p) for s in seed_videos("u_ann", 3.5) for p in paths_from(s, 10) if p[-1] == "v_fox"
    } == {2, 3}
    assert "u_ann" in nodes and any(r[0] == "LIKED" for r in rels)


def test_every_query_file_has_an_expectation() -> None:
    assert len(QUERIES) >= 10
    assert set(QUERIES) == set(TABLE_EXPECTATIONS) | set(GRAPH_QUERIES) | set(SPECIAL)
    for name in GRAPH_QUERIES:
        assert QUERIES[name].view == "graph"


@pytest.mark.parametrize("name", sorted(TABLE_EXPECTATIONS))
def test_table_query(world: Graph, name: str) -> None:
    q = QUERIES[name]
    want = TABLE_EXPECTATIONS[name](q.params)
    assert want, f"the example parameters of {name} find nothing in the world"
    for params in (q.params, browser_params(q.params)):
        assert_rows([r.data() for r in run(world, q, params)], want)


def test_video_related_limit(world: Graph) -> None:
    q = QUERIES["video_related"]
    params = {**q.params, "n": 2.0}
    assert_rows([r.data() for r in run(world, q, params)], expect_video_related(params))


def test_user_seeds(world: Graph) -> None:
    q = QUERIES["user_seeds"]
    s = SeedSettings()
    assert {k: v for k, v in q.params.items() if k != "user_id"} == dataclasses.asdict(s)
    for user in ("u_ann", "u_bob"):
        want = expected_seeds(user, s)
        mine_params = {**q.params, "user_id": user}
        for params in (mine_params, browser_params(mine_params)):
            assert_rows([r.data() for r in run(world, q, params)], want)
        # ... and the recommender's own seed code agrees, from the graph's user_actions rows.
        mine = seed_set(graph_user_actions(world, user), s)
        assert [(x.video_id, x.reasons) for x in mine] == [
            (w["video_id"], tuple(w["reasons"])) for w in want
        ]
        assert [x.weight for x in mine] == pytest.approx([w["weight"] for w in want])


def test_user_seeds_cap_and_no_decay(world: Graph) -> None:
    q = QUERIES["user_seeds"]
    s = dataclasses.replace(SeedSettings(), max_seeds=2, half_life_days=0.0)
    got = [r.data() for r in run(world, q, {**dataclasses.asdict(s), "user_id": "u_ann"})]
    undecayed = dataclasses.replace(SeedSettings(), max_seeds=2, half_life_days=1e30)
    assert_rows(got, expected_seeds("u_ann", undecayed))


def test_video_neighbourhood(world: Graph) -> None:
    q = QUERIES["video_neighbourhood"]
    for k in (10, 1):
        params = browser_params({**q.params, "k": k})
        records = run(world, q, params)
        got = sorted(tuple(_key(n) for n in r["p"].nodes) for r in records)
        assert got == sorted(paths_from(q.params["video_id"], k))
    assert len(paths_from(q.params["video_id"], 1)) < len(paths_from(q.params["video_id"], 10))


@pytest.mark.parametrize(
    ("user", "video"),
    [
        ("u_ann", "v_fox"),
        ("u_bob", "v_elk"),
        ("u_ann", "v_cat"),
        ("u_bob", "v_fox"),
        ("u_ann", "v_gnu"),
    ],
)
def test_why_recommended(world: Graph, user: str, video: str) -> None:
    q = QUERIES["why_recommended"]
    params = browser_params({**q.params, "user_id": user, "video_id": video})
    records = run(world, q, params)
    args = (user, video, params["k"], params["rating_threshold"])
    assert graph_of(records) == why_expected(*args)
    if why_paths(*args):  # one row: every element once, so the Browser counts them right
        assert len(records) == 1
        row = records[0]
        assert len(row["actions"]) + len(row["related"]) == len(why_expected(*args)[1])
        assert len(row["videos"]) + 1 == len(why_expected(*args)[0])
        assert_rows(row["paths"], why_table(*args))
    else:
        assert records == []


def test_why_recommended_example_has_paths_of_both_depths(world: Graph) -> None:
    q = QUERIES["why_recommended"]
    nodes, rels = graph_of(run(world, q, q.params))
    assert (nodes, rels) == why_expected(
        "u_ann", "v_fox", q.params["k"], q.params["rating_threshold"]
    )
    assert ("RELATED", "v_dog", "v_fox") in rels  # one hop
    assert ("RELATED", "v_cat", "v_owl") in rels and ("RELATED", "v_owl", "v_fox") in rels
    # With the paper's threshold (3.5) u_ann's low rating of v_owl is a dislike: v_owl may lie on
    # a path, just not start one.
    strict = {**q.params, "rating_threshold": 3.5}
    nodes, rels = graph_of(run(world, q, strict))
    assert (nodes, rels) == why_expected("u_ann", "v_fox", q.params["k"], 3.5)
    assert "v_owl" in nodes
    assert not any(r[0] in ACTION_TYPES and r[2] == "v_owl" for r in rels)


def test_example_params_follow_the_settings() -> None:
    cand, seeds = CandidateSettings(), SeedSettings()
    for name in ("why_recommended", "example_ids"):
        assert QUERIES[name].params["k"] == cand.per_hop
        assert QUERIES[name].params["rating_threshold"] == seeds.rating_threshold
    assert QUERIES["why_recommended"].inputs == {
        "video_id": "recommended_video_id",
        "user_id": "user_id",
    }


def test_query_files_are_the_named_queries() -> None:
    """The guide runs exactly the statement of cypher/browser/<name>.cypher."""
    for name, q in QUERIES.items():
        assert query(f"browser/{name}").endswith(q.cypher)
        assert parameters(q.cypher) == set(q.params), name


# --- the guide -----------------------------------------------------------------------------
def runnable_blocks(page: str) -> list[str]:
    blocks = re.findall(r'<pre class="code runnable">(.*?)</pre>', page, re.DOTALL)
    return [html.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks]


def test_guide_places_every_query_once_with_its_param_line() -> None:
    template = browser.guide_template()
    placed = re.findall(r"<!--\s*query:\s*([a-z0-9_]+)\s*-->", template)
    assert Counter(placed) == Counter(list(QUERIES)), "each query file has exactly one place"
    page = browser.guide_html()
    blocks = runnable_blocks(page)
    assert blocks == [b for q in QUERIES.values() for b in (q.param_command(), q.cypher)]
    assert "{{" not in page and "query:" not in page
    assert page.count("<slide>") == page.count("</slide>") >= 5
    assert re.search(r"<title>[^<]+</title>", page)


def test_guide_explains_the_model() -> None:
    page = browser.guide_html()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    for word in (
        "Video",
        "User",
        "Channel",
        "Category",
        "RELATED",
        "YT_RELATED",
        "WATCHED",
        "LIKED",
        "FAVORITED",
        "PLAYLISTED",
        "RATED",
        "UPLOADED_BY",
        "IN_CATEGORY",
        "sessions",
        "cooccurrences",
        "score",
        "rank",
        "weight",
        "first_at",
        "last_at",
        "watch_seconds",
        "long_watches",
        "rating",
        "position",
        "half",
        "sessions",
    ):
        assert re.search(rf"\b{word}\b", text), word
    from ytgraph.related import NORMALIZATIONS

    for name in NORMALIZATIONS:
        assert f"<code>{name}</code>" in page, name
    s = Settings()
    assert f"{s.seeds.weight_favorite:g}" in text and f"{s.seeds.half_life_days:g} days" in text


def test_param_line_parses_as_the_browser_reads_it() -> None:
    """The Browser parses ``:param {...}`` as JSON5-like text: unquoted keys, JSON values."""
    for q in QUERIES.values():
        body = q.param_command().removeprefix(":param ")
        as_json = re.sub(r"([{,]\s*)([a-z_]+):", r'\1"\2":', body)
        assert json.loads(as_json) == q.params


# --- the style -----------------------------------------------------------------------------
def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """Neo4j Browser 5.24's grass reader (``parseGrass``), transcribed: quotes are dropped and
    protect braces; a declaration counts only when it splits into exactly ``key: value``."""
    in_quote = in_rule = nested = False
    selector, body = "", ""
    blocks: dict[str, str] = {}
    for ch in text:
        handled = True
        if ch == "{":
            if in_quote:
                handled = False
            elif in_rule:
                nested = True
            else:
                in_rule = True
        elif ch == "}":
            if in_quote:
                handled = False
            elif nested:
                nested = False
            else:
                in_rule = False
                blocks[selector], selector, body = body, "", ""
        elif ch in "'\"":
            in_quote = not in_quote
        else:
            handled = False
        if not handled:
            if in_rule:
                body += ch
            elif not ch.isspace():
                selector += ch
    rules: dict[str, dict[str, str]] = {}
    for sel, decls in blocks.items():
        rules[sel] = {}
        for decl in decls.split(";"):
            parts = decl.split(":")
            if len(parts) == 2:
                rules[sel][parts[0].strip()] = parts[1].strip()
    return rules


def test_style_covers_the_model() -> None:
    text = (browser.browser_dir() / browser.STYLE_FILE).read_text()
    rules = parse_grass(text)
    assert len(rules) == len(re.findall(r"^[\w.]+ \{$", text, re.MULTILINE)) == 16
    declared = len(re.findall(r"^  [a-z-]+: .+;$", text, re.MULTILINE))
    assert sum(len(r) for r in rules.values()) == declared  # none lost to the reader
    for label in ("Video", "User", "Channel", "Category"):
        assert f"node.{label}" in rules
    for rel in ("RELATED", "YT_RELATED", *ACTION_TYPES, "UPLOADED_BY", "IN_CATEGORY"):
        assert f"relationship.{rel}" in rules
    assert rules["node.Video"]["caption"] == "{title}"
    assert rules["relationship.RELATED"]["caption"] == "#{rank}"
    sizes = {k: int(v["diameter"].removesuffix("px")) for k, v in rules.items() if "diameter" in v}
    assert sizes["node.Video"] > max(v for k, v in sizes.items() if k != "node.Video")
    colours = [rules[f"node.{x}"]["color"] for x in ("Video", "User", "Channel", "Category")]
    assert len(set(colours)) == 4


# --- how it reaches the Browser ----------------------------------------------------------
def test_post_connect_command_and_conf_lines() -> None:
    cmd = browser.post_connect_command("http://127.0.0.1:7474/")
    assert cmd == (
        "style http://127.0.0.1:7474/browser/ytgraph/ytgraph.grass; "
        "guide http://127.0.0.1:7474/browser/ytgraph/guide.html"
    )
    lines = browser.conf_lines(7475)
    assert lines[0] == "browser.post_connect_cmd=" + browser.post_connect_command(
        "http://127.0.0.1:7475"
    )
    assert "browser.remote_content_hostname_whitelist=127.0.0.1,localhost" in lines
    csp = next(ln for ln in lines if ln.startswith("dbms.security.http_static_content"))
    assert "segment" not in csp and "canny" not in csp and " http: " not in csp


def test_archive_layout(tmp_path: Path) -> None:
    dest = browser.build_static_jar(tmp_path / "only-ours.jar")
    with zipfile.ZipFile(dest) as z:
        names = z.namelist()
        assert names[0] == "browser/"
        assert z.read("browser/ytgraph/guide.html").decode() == browser.guide_html()
        assert "browser/ytgraph/ytgraph.grass" in names
    for i, name in enumerate(names):  # Neo4j unpacks in order: folders before their files
        parent = name.rstrip("/").rpartition("/")[0]
        assert not parent or parent + "/" in names[:i], name


def test_install_builds_the_served_archive_once(tmp_path: Path) -> None:
    lib = ManagedServer(Settings().neo4j).dist / "lib"
    jar = browser.find_browser_jar(lib)
    if jar is None:
        pytest.fail(f"no Neo4j Browser jar in {lib}: resolve the managed server first")
    home = tmp_path / "home"
    first = browser.install(home, lib)
    assert first == home / "web" / browser.WEB_ARCHIVE
    stamp = first.stat().st_mtime_ns
    assert browser.install(home, lib) == first and first.stat().st_mtime_ns == stamp
    with zipfile.ZipFile(first) as z, zipfile.ZipFile(jar) as src:
        names = set(z.namelist())
        assert {"browser/index.html", "browser/ytgraph/guide.html"} <= names
        assert {n for n in src.namelist() if n.startswith("browser/")} <= names
    (home / "web" / "neo4j-browser-2020.01.01+1.zip").write_bytes(b"stale")
    first.write_bytes(b"not a zip")
    assert browser.install(home, lib) == first and zipfile.is_zipfile(first)
    assert [p.name for p in (home / "web").iterdir()] == [browser.WEB_ARCHIVE]
    assert browser.install(home, tmp_path / "no-lib") is None and not first.exists()


def test_managed_server_serves_guide_and_style(neo4j_conn: Connection) -> None:
    if neo4j_conn.server is None:
        pytest.skip("the guide is installed on the managed server only")
    base = neo4j_conn.browser_url
    assert base is not None
    with urllib.request.urlopen(base + "ytgraph/guide.html", timeout=10) as r:
        served = r.read().decode()
        assert served == browser.guide_html(), "serving an older guide: restart the server"
        csp = r.headers["Content-Security-Policy"]
    assert csp == browser.CONTENT_SECURITY_POLICY
    with urllib.request.urlopen(base + "ytgraph/ytgraph.grass", timeout=10) as r:
        assert r.read() == (browser.browser_dir() / browser.STYLE_FILE).read_bytes()
    records, _, _ = neo4j_conn.driver.execute_query(
        "CALL dbms.clientConfig() YIELD name, value RETURN name, value", database_="system"
    )
    config = {r["name"]: r["value"] for r in records}
    http_base = base.split("/browser", 1)[0]
    assert config["browser.post_connect_cmd"] == browser.post_connect_command(http_base)
    assert config["browser.remote_content_hostname_whitelist"] == "127.0.0.1,localhost"
    assert config["client.allow_telemetry"] == "false"


def test_browse_info(neo4j_conn: Connection) -> None:
    info = connect.browse_info(neo4j_conn)
    assert "password" not in info and info["user"] == neo4j_conn.user
    assert info["url"] is not None and info["url"].startswith(str(neo4j_conn.browser_url))
    assert "dbms=" in info["url"]
    assert connect.browse_info(neo4j_conn, show_password=True)["password"] == neo4j_conn.password
    if neo4j_conn.server is not None:
        assert info["password_file"] == str(neo4j_conn.server.password_file)
        assert info["guide"] == f"{neo4j_conn.browser_url}ytgraph/guide.html"
        http_base = str(neo4j_conn.browser_url).split("/browser", 1)[0]
        assert info["post_connect_cmd"] == browser.post_connect_command(http_base)
