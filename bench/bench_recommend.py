"""Recommendation latency through the library with a warm driver (depth 2), and RELATED write speed.

Builds (or reuses, --reuse) a generated graph of --videos videos with --per-video RELATED edges each
(Zipf-skewed targets, mostly inside a topical neighbourhood) and --users users with a handful of
actions, on a bench server of its own; then times `recommend()` (online: seeds, Cypher expansion,
ranking) for random users, precomputes every user's list in batch, and times `serve()` (the stored
list, one query) for the same users.

    python bench/bench_recommend.py                 # 100k videos, 2.1M RELATED, 2k users
    python bench/bench_recommend.py --reuse --runs 5
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_connection, bench_settings, machine, median, percentile
from loaders.schema import DAY
from ytgraph.db.graph import Graph
from ytgraph.ingest import lists
from ytgraph.ingest.load import wipe_graph


def build(graph: Graph, videos: int, per_video: int, users: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"v{i:06d}" for i in range(videos)], dtype=object)
    categories = 20
    cat = rng.integers(0, categories, size=videos)
    channel = rng.integers(0, max(1, videos // 20), size=videos)
    views = np.floor(1e6 / (rng.permutation(videos) + 1) ** 0.9).astype(np.int64) + 1
    uploaded = (1_700_000_000 - rng.integers(0, 900, size=videos) * DAY).astype(np.int64)
    vids = pd.DataFrame(
        {
            "video_id": ids,
            "title": [f"Video {i}" for i in range(videos)],
            "views": views.astype(float),
            "likes": (views * 0.02).astype(float),
            "comments": (views * 0.005).astype(float),
            "rating_avg": rng.uniform(2.5, 5, size=videos),
            "rating_count": (views * 0.01).astype(float),
            "uploaded_at": uploaded,
            "sessions": (views // 10 + 1).astype(float),
        }
    )
    # Targets: 70% from the same category (Zipf within it), 30% global Zipf.
    by_cat = [np.flatnonzero(cat == c) for c in range(categories)]
    src = np.repeat(np.arange(videos), per_video)
    local = rng.random(src.size) < 0.7
    zipf_global = np.minimum(rng.zipf(1.3, size=src.size) - 1, videos - 1)
    dst = np.where(local, 0, zipf_global)
    for c in range(categories):
        members = by_cat[c]
        pick = local & (cat[src] == c)
        dst[pick] = members[np.minimum(rng.zipf(1.3, size=pick.sum()) - 1, members.size - 1)]
    rel = pd.DataFrame({"src": src, "dst": dst}).drop_duplicates()
    rel = rel[rel["src"] != rel["dst"]]
    rel["score"] = rng.random(len(rel))
    rel = rel.sort_values(["src", "score"], ascending=[True, False])
    rel["rank"] = rel.groupby("src").cumcount() + 1
    rel["weight"] = rel["score"] / rel.groupby("src")["score"].transform("max")
    rel["cooccurrences"] = rng.integers(2, 50, size=len(rel))
    rel["src"], rel["dst"] = ids[rel["src"].to_numpy()], ids[rel["dst"].to_numpy()]

    wipe_graph(graph)
    graph.run_script("schema")
    t = {}
    t0 = time.perf_counter()
    props = vids.drop(columns=["video_id"]).to_dict("records")
    video_rows = [{"video_id": v, "props": p} for v, p in zip(ids, props, strict=True)]
    with graph.transaction() as tx:
        tx.batches("upsert_videos", video_rows, 10_000)
        tx.batches(
            "link_channels",
            [{"video_id": v, "channel_id": f"ch{c}"} for v, c in zip(ids, channel, strict=True)],
            10_000,
        )
        tx.batches(
            "link_categories",
            [{"video_id": v, "category": f"cat{c}"} for v, c in zip(ids, cat, strict=True)],
            10_000,
        )
    t["videos_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = lists.related_rows(rel, np.unique(rel["src"].to_numpy()))
    t["related_rows_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # The bench graph is built in transactions of 5,000 lists (~100k edges): it measures write
    # speed, not how large one transaction may grow.
    for start in range(0, len(rows), 5_000):
        with graph.transaction() as tx:
            lists.write(tx, rows[start : start + 5_000], 20_000, per_video)
    t["related_write_s"] = time.perf_counter() - t0
    t["related_edges"] = float(len(rel))

    # Users: 3-25 actions each, popularity-skewed, mostly in two favourite categories.
    watched, actions = [], []
    now = 1_700_000_000
    for u in range(users):
        favs = rng.choice(categories, size=2, replace=False)
        k = int(rng.integers(3, 26))
        pool = np.concatenate([by_cat[favs[0]], by_cat[favs[1]]])
        picks = pool[np.minimum(rng.zipf(1.5, size=k) - 1, pool.size - 1)]
        for j, v in enumerate(np.unique(picks)):
            at = int(now - rng.integers(0, 60) * DAY)
            watched.append(
                {
                    "user_id": f"u{u}",
                    "video_id": ids[v],
                    "count": 1,
                    "first_at": at,
                    "last_at": at,
                    "watch_seconds": 300.0,
                    "long_watches": int(j % 2),
                }
            )
            if j % 4 == 0:
                actions.append(
                    {
                        "user_id": f"u{u}",
                        "video_id": ids[v],
                        "kind": "like",
                        "at": at,
                        "rating": None,
                        "count": 1,
                    }
                )
    with graph.transaction() as tx:
        tx.batches("upsert_watched", watched, 10_000)
        tx.batches("upsert_actions", actions, 10_000)
    graph.driver.execute_query(
        "MERGE (m:YtgraphMeta {key: 'bench'}) SET m.shape = $shape",
        shape=f"{videos}/{per_video}/{users}/{seed}/gen",  # as main() and bench_batch.py ask
    )
    return t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--videos", type=int, default=100_000)
    ap.add_argument("--per-video", type=int, default=32)  # ~2.1M distinct edges
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--requests", type=int, default=400, help="recommend() calls per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep the graph if it has this shape")
    ap.add_argument("--no-precompute", action="store_true", help="time online recommend() only")
    ap.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the start-up heap to the cyclic GC (a serving process would gc.freeze() it)",
    )
    args = ap.parse_args()

    s = bench_settings()
    conn = bench_connection(s)
    graph = Graph(conn.driver, conn.database)
    print(f"machine: {machine()}")
    print(
        f"neo4j: {conn.version()} ({conn.provider}), heap {s.neo4j.heap}, page cache {s.neo4j.pagecache}"
    )
    shape = f"{args.videos}/{args.per_video}/{args.users}/{args.seed}/gen"  # lists with generations
    have, _, _ = conn.driver.execute_query(
        "MATCH (m:YtgraphMeta {key:'bench'}) RETURN m.shape AS s"
    )
    if not (args.reuse and have and have[0]["s"] == shape):
        t = build(graph, args.videos, args.per_video, args.users, args.seed)
        edges = t["related_edges"]
        print(
            f"built: {args.videos:,} videos in {t['videos_s']:.1f}s; {edges:,.0f} RELATED written in "
            f"{t['related_write_s']:.1f}s = {edges / t['related_write_s']:,.0f} rel/s "
            f"(+{t['related_rows_s']:.1f}s building rows in Python)"
        )

    from ytgraph.recommendation.serve import precompute, serve
    from ytgraph.recommendation.service import Recommendations, recommend

    s.candidates.depth = args.depth
    rng = np.random.default_rng(args.seed + 1)
    users = [f"u{i}" for i in rng.integers(0, args.users, size=args.requests)]
    for u in users[:50]:  # warm the driver, the query cache and the page cache
        recommend(graph, u, s)
    if not args.no_freeze:
        # What a long-running service does once it is warm: move the start-up heap (modules, the
        # driver, the cached popular list) out of the cyclic GC's reach. Without it, every full
        # collection walks that heap in the middle of some request: the tail of the latency.
        gc.freeze()
    print(f"gc: {'start-up heap frozen' if not args.no_freeze else 'not frozen'}")

    def timed(label: str, call: Callable[[str], Recommendations]) -> None:
        p50s, p99s = [], []
        for run in range(args.runs):
            lat = []
            for u in users:
                t0 = time.perf_counter()
                recs = call(u)
                lat.append((time.perf_counter() - t0) * 1000)
                assert recs.recommendations
            p50s.append(percentile(lat, 50))
            p99s.append(percentile(lat, 99))
            print(
                f"  run {run + 1}: {len(lat)} requests, p50 {p50s[-1]:.1f} ms, p99 {p99s[-1]:.1f} ms"
            )
        print(
            f"{label} depth {args.depth}: p50 {median(p50s):.1f} ms, p99 {median(p99s):.1f} ms "
            f"(medians over {args.runs} runs of {args.requests})"
        )

    timed("recommend() online", lambda u: recommend(graph, u, s))
    if args.no_precompute:
        conn.close()
        return
    report = precompute(graph, s)
    print(
        f"precompute: {report.stored:,} lists in {report.seconds:.1f}s "
        f"= {report.users / report.seconds:,.0f} users/s"
    )
    timed("serve() precomputed", lambda u: serve(graph, u, s))
    sample = users[:20]
    assert all(serve(graph, u, s).source == "precomputed" for u in sample)
    assert all(serve(graph, u, s).to_json() == recommend(graph, u, s).to_json() for u in sample), (
        "a served list differs from the online one"
    )
    conn.close()


if __name__ == "__main__":
    main()
