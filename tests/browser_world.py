"""The small world the Browser tests load by hand, and what every guide query should answer on it.

The world goes in through the project's own write queries (the loader's row shapes); every expected
result is computed here in plain Python from the same world, never read back from Neo4j.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from loaders.schema import DAY
from ytgraph.config import SeedSettings
from ytgraph.db.graph import Graph

T = 1_700_000_000  # the world's "now", epoch seconds


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
