"""Batch recommendations: every user's list from one snapshot, against recommend() online.

Builds (or reuses, --reuse) the graph of bench_recommend.py (--videos videos, --per-video RELATED
edges each, --users users with a handful of actions) on a bench server of its own (ports
49687/49474, home <cache>/home/bench-batch), then measures, each a median over --runs:

- the snapshot: reading videos, RELATED, every user's actions and the catalogue figures;
- batch_recommend() over every user with 1 and 2 workers, n = 12 and n = 60 (wall-clock users/s,
  and CPU seconds per user summed over the parent and its workers, which other work on the
  machine disturbs less);
- the pools of 60 as precompute makes them (batch_map + serve.stored_pool: the stored JSON, no
  Neo4j write) with 1 and 2 workers;
- recommend() online, one user after another over Bolt, for comparison;
- precompute() end to end (snapshot, every user's pool, stored in Neo4j) with 1 and 2 workers;

and checks on a sample of users that every batch list equals the online one, and every stored
pool's JSON is serve.dump's of the online list (the counts of mismatches must be 0).

    python bench/bench_batch.py                     # 100k videos, 2.1M RELATED, 20k users
    python bench/bench_batch.py --reuse --runs 5
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_recommend import build
from bench.common import bench_connection, bench_settings, machine, median
from ytgraph.config import Settings, cache_dir
from ytgraph.db.graph import Graph
from ytgraph.recommendation.batch import Snapshot, batch_map, batch_recommend, snapshot
from ytgraph.recommendation.serve import dump, precompute, stored_pool
from ytgraph.recommendation.service import Recommendations, recommend


def settings() -> Settings:
    """bench_settings() on a server of this script's own."""
    s = bench_settings()
    if not s.neo4j.uri:
        s.neo4j.bolt_port, s.neo4j.http_port = 49687, 49474
        s.neo4j.home = str(cache_dir() / "home" / "bench-batch")
    return s


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the batch's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def everything(r: Recommendations) -> tuple[Any, ...]:
    """Every field a batch list promises to share with the online one, exactly."""
    return (
        r.user_id,
        r.known_user,
        [(s.video_id, s.title, s.weight, s.reasons) for s in r.seeds],
        [
            (
                x.video_id,
                x.title,
                x.score,
                x.signals,
                x.because,
                [(p.videos, p.scores, p.weights) for p in x.paths],
                x.channel_id,
                x.category,
                x.rank,
            )
            for x in r.recommendations
        ],
    )


def time_batch(
    snap: Snapshot, s: Settings, users: list[str], n: int, workers: int, stored: bool = False
) -> tuple[float, float]:
    """(users/s, CPU ms per user) of one batch over ``users``: ``Recommendations``, or with
    ``stored`` the pools' stored JSON as precompute makes it."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    if stored:
        lists: Iterator[Any] = batch_map(snap, s, stored_pool, users, n=n, workers=workers)
    else:
        lists = batch_recommend(snap, s, users, n=n, workers=workers)
    done = sum(1 for _ in lists)
    wall = time.perf_counter() - t0
    assert done == len(users)
    return done / wall, (cpu_seconds() - c0) / done * 1000


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--videos", type=int, default=100_000)
    ap.add_argument("--per-video", type=int, default=32)  # ~2.1M distinct edges
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-users", type=int, default=0, help="users per batch (0: all)")
    ap.add_argument("--online", type=int, default=300, help="recommend() calls per run")
    ap.add_argument("--check", type=int, default=500, help="users compared batch vs online")
    ap.add_argument("--reuse", action="store_true", help="keep the graph if it has this shape")
    args = ap.parse_args()

    s = settings()
    conn = bench_connection(s)
    graph = Graph(conn.driver, conn.database)
    print(f"machine: {machine()}")
    print(
        f"neo4j: {conn.version()} ({conn.provider}), heap {s.neo4j.heap}, page cache {s.neo4j.pagecache}"
    )
    print(
        "note: wall-clock figures are only as quiet as the machine; the CPU ms per user "
        "(parent + workers) vary less when other work shares the cores"
    )
    shape = f"{args.videos}/{args.per_video}/{args.users}/{args.seed}/gen"  # lists with generations
    have, _, _ = conn.driver.execute_query(
        "MATCH (m:YtgraphMeta {key:'bench'}) RETURN m.shape AS s"
    )
    if not (args.reuse and have and have[0]["s"] == shape):
        t = build(graph, args.videos, args.per_video, args.users, args.seed)
        print(
            f"built: {args.videos:,} videos, {t['related_edges']:,.0f} RELATED, "
            f"{args.users:,} users in {t['videos_s'] + t['related_write_s']:.0f}s"
        )
    c = s.candidates
    print(
        f"settings: profile {s.profile}, depth {c.depth}, per_hop {c.per_hop}, "
        f"max_candidates {c.max_candidates}, max_seeds {s.seeds.max_seeds}, pool {s.ranking.pool}"
    )

    seconds, snap = [], None
    for _ in range(args.runs):
        snap = None
        gc.collect()
        t0 = time.perf_counter()
        snap = snapshot(graph)
        seconds.append(time.perf_counter() - t0)
    assert snap is not None
    print(
        f"snapshot: {len(snap.ids):,} videos, {len(snap.dst):,} RELATED, {len(snap.actions):,} "
        f"users read in {median(seconds):.1f}s (median of {args.runs}: "
        f"{', '.join(f'{x:.1f}' for x in seconds)})"
    )

    users = sorted(snap.actions)
    if args.batch_users:
        users = users[: args.batch_users]
    list(batch_recommend(snap, s, users[:200], n=12))  # warm: the per-k CSR, quality, popular
    for n in (12, 60):
        for workers in (1, 2):
            rates, cpus = [], []
            for _ in range(args.runs):
                rate, cpu = time_batch(snap, s, users, n, workers)
                rates.append(rate)
                cpus.append(cpu)
            print(
                f"batch n={n} workers={workers}: {median(rates):,.0f} users/s "
                f"({', '.join(f'{r:,.0f}' for r in rates)}), CPU {median(cpus):.2f} ms/user, "
                f"{len(users):,} users a run"
            )
    for workers in (1, 2):
        rates, cpus = [], []
        for _ in range(args.runs):
            rate, cpu = time_batch(snap, s, users, s.ranking.pool, workers, stored=True)
            rates.append(rate)
            cpus.append(cpu)
        print(
            f"stored pools of {s.ranking.pool} (JSON, not written) workers={workers}: "
            f"{median(rates):,.0f} users/s ({', '.join(f'{r:,.0f}' for r in rates)}), "
            f"CPU {median(cpus):.2f} ms/user"
        )

    rng = np.random.default_rng(args.seed + 1)
    asked = [users[i] for i in rng.integers(0, len(users), size=args.online)]
    for u in asked[:30]:  # warm the driver, the query cache and the page cache
        recommend(graph, u, s)
    rates = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        for u in asked:
            recommend(graph, u, s, n=60)
        rates.append(len(asked) / (time.perf_counter() - t0))
    print(
        f"online recommend() n=60: {median(rates):,.0f} users/s "
        f"({', '.join(f'{r:,.0f}' for r in rates)}), {len(asked)} users a run"
    )

    sample = sorted({users[i] for i in rng.integers(0, len(users), size=args.check)})
    for n in (12, 60):
        for workers in (1, 2):
            got = batch_recommend(snap, s, sample, n=n, workers=workers, chunk=50)
            bad = sum(
                1
                for u, b in zip(sample, got, strict=True)
                if not isinstance(b, Recommendations)
                or everything(b) != everything(recommend(graph, u, s, n=n))
            )
            print(f"check n={n} workers={workers}: {bad} of {len(sample)} lists differ from online")
    pool = s.ranking.pool
    want = {u: dump(recommend(graph, u, s, n=pool)) for u in sample}
    for workers in (1, 2):
        got = batch_map(snap, s, stored_pool, sample, n=pool, workers=workers, chunk=50)
        bad = sum(
            1
            for u, b in zip(sample, got, strict=True)
            if not isinstance(b, dict) or (b["header"], b["items"]) != want[u]
        )
        print(
            f"check stored pools workers={workers}: {bad} of {len(sample)} differ from "
            "dump(recommend()) online"
        )

    # End to end, as `ytgraph precompute` runs it: snapshot, every user's pool of 60, stored.
    for workers in (1, 2):
        rates = []
        for _ in range(args.runs):
            report = precompute(graph, s, workers=workers)
            assert report.stored == report.users and not report.failed
            rates.append(report.users / report.seconds)
        print(
            f"precompute (snapshot + pools of {s.ranking.pool} + store) workers={workers}: "
            f"{median(rates):,.0f} users/s ({', '.join(f'{r:,.0f}' for r in rates)})"
        )
    conn.close()


if __name__ == "__main__":
    main()
