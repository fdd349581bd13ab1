"""Serving figures: how many stored pools a day of new events makes stale, and what a visit costs.

A generated world is loaded without its last day; every user's pool is precomputed; the last day
is loaded (a day of new events); then the stale share, `precompute --stale`, and the latency of a
visit through the library (`serve`: the stored pool, rotated, impressions recorded in the
background) are measured on a bench server of its own (ports 46687/46474): each visit a round trip
(`serve_pool.cypher`), and from a process's `PoolCache` (the API's path: no round trip while the
graph stays at one generation), beside a one-row Bolt read for scale.

    python bench/bench_serve.py                       # 5k users, 10k videos, 30 days
    python bench/bench_serve.py --users 20000 --videos 20000 --requests 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_connection, bench_settings, machine, median, percentile
from loaders.schema import DAY, Dataset, ReadReport
from ytgraph.config import cache_dir
from ytgraph.db.graph import Graph
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load, wipe_graph
from ytgraph.recommendation.poolcache import PoolCache
from ytgraph.recommendation.serve import ImpressionRecorder, precompute, serve
from ytgraph.recommendation.service import Recommendations


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=5_000)
    ap.add_argument("--videos", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--requests", type=int, default=1_000, help="visits per latency run")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    s = bench_settings()
    s.neo4j.bolt_port, s.neo4j.http_port = 46687, 46474
    s.neo4j.home = str(cache_dir() / "home" / "bench-serve")
    conn = bench_connection(s)
    graph = Graph(conn.driver, conn.database)
    print(f"machine: {machine()}")
    print(f"neo4j: {conn.version()} ({conn.provider}), heap {s.neo4j.heap}")

    cfg = GenerateConfig(users=args.users, videos=args.videos, days=args.days, seed=args.seed)
    events, videos = generate_world(cfg)
    last_day = int(events["timestamp"].max()) // DAY * DAY
    early = events["timestamp"] < last_day
    days_before = Dataset(events[early], videos, ReadReport(read=int(early.sum())))
    day = Dataset(events[~early].reset_index(drop=True), videos.iloc[:0], ReadReport())
    print(
        f"world: {len(events):,} events, {args.users:,} users, {args.videos:,} videos; "
        f"the last day holds {len(day.events):,} events of "
        f"{day.events['user_id'].nunique():,} users"
    )
    wipe_graph(graph)
    state = Path(tempfile.mkdtemp(prefix="bench-serve-state-"))
    t0 = time.perf_counter()
    first = load(days_before, s, graph, state)
    print(
        f"load of {args.days - 1} days: {first.related_edges:,} RELATED in {time.perf_counter() - t0:.1f}s"
    )
    report = precompute(graph, s)
    print(
        f"precompute (every user): {report.stored:,} pools in {report.seconds:.1f}s "
        f"= {report.users / report.seconds:,.0f} users/s"
    )

    t0 = time.perf_counter()
    after = load(day, s, graph, state)
    print(f"load of the last day: {after.new_events:,} events in {time.perf_counter() - t0:.1f}s")
    share = after.stale_pools / after.stored_pools if after.stored_pools else 0.0
    print(
        f"stale after a day of new events: {after.stale_pools:,} of {after.stored_pools:,} "
        f"stored pools = {share:.1%} (tolerance {s.serving.stale_tolerance})"
    )
    again = precompute(graph, s, stale_only=True)
    print(
        f"precompute --stale: {again.users:,} of {again.all_users:,} users "
        f"({again.users - after.stale_pools:,} new) in {again.seconds:.1f}s"
    )

    users = [str(u) for u in np.random.default_rng(1).choice(events["user_id"].unique(), 2000)]
    for u in users[:100]:  # warm the driver, the query cache and the page cache
        serve(graph, u, s)
    gc.freeze()  # what a long-running server does once warm (see DEVELOPERS.md)

    def timed(label: str, visit: Callable[[str], object], runs: int = args.runs) -> None:
        p50s, p99s = [], []
        for _ in range(runs):
            lat = []
            for u in users[: args.requests]:
                t0 = time.perf_counter()
                recs = visit(u)
                lat.append((time.perf_counter() - t0) * 1000)
                assert not isinstance(recs, Recommendations) or (
                    recs.recommendations and recs.source == "precomputed"
                )
            p50s.append(percentile(lat, 50))
            p99s.append(percentile(lat, 99))
        print(
            f"{label}: p50 {median(p50s):.2f} ms, p99 {median(p99s):.2f} ms "
            f"(medians over {runs} runs of {args.requests} visits)"
        )

    timed("one-row Bolt read (meta_get), for scale", lambda _u: graph.run("meta_get"))
    stable = dataclasses.replace(s, serving=dataclasses.replace(s.serving, rotate=False))
    timed("serve, stable top 12", lambda u: serve(graph, u, stable))
    timed("serve, rotated", lambda u: serve(graph, u, s))
    recorder = ImpressionRecorder(graph, interval=0.2, log=state / "impressions.csv")
    timed(
        "serve, rotated, impressions recorded in the background",
        lambda u: serve(graph, u, s, recorder=recorder),
    )
    check = s.serving.generation_check_s
    cache = PoolCache(check, s.serving.cache_users)
    timed(
        f"cached: first visits (each user's pool read once), generation checked every {check:g}s",
        lambda u: serve(graph, u, s, recorder=recorder, cache=cache),
        runs=1,
    )
    timed(
        "cached: serve, rotated, impressions recorded in the background",
        lambda u: serve(graph, u, s, recorder=recorder, cache=cache),
    )
    timed("cached: serve, stable top 12", lambda u: serve(graph, u, stable, cache=cache))
    recorder.close()
    print(f"impressions written: {recorder.written:,}; cache holds {len(cache):,} users")
    conn.close()


if __name__ == "__main__":
    main()
