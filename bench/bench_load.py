"""Loading throughput on a generated world of about a million events.

Prints: reading (rows/s), counting (sessions + c_ij + R_i, events/s), and a full load into Neo4j
(total seconds; RELATED relationships written per second, timed around the write batches).

    python bench/bench_load.py                   # 20k users, 20k videos, 30 days ≈ 1M events
    python bench/bench_load.py --runs 5 --load-runs 3
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_connection, bench_settings, machine, median
from loaders import read_dataset
from ytgraph.db.graph import Graph
from ytgraph.ingest.covisit import count
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world
from ytgraph.ingest.load import load, wipe_graph
from ytgraph.ingest.related import related_lists
from ytgraph.ingest.sessions import sessionize


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--videos", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3, help="repeats of the in-memory stages")
    ap.add_argument("--load-runs", type=int, default=1, help="repeats of the Neo4j load")
    args = ap.parse_args()

    s = bench_settings()
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    events, videos = generate_world(
        GenerateConfig(users=args.users, videos=args.videos, days=args.days, seed=args.seed)
    )
    print(
        f"generated {len(events):,} events, {len(videos):,} videos in {time.perf_counter() - t0:.1f}s"
    )
    tmp = Path(tempfile.mkdtemp(prefix="ytgraph-bench-"))
    try:
        paths = write_world(events, videos, tmp / "world")
        reads, counts = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            ds = read_dataset("canonical", [str(paths["events"])], str(paths["videos"]), False)
            reads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            watches = ds.events[ds.events["event"] == "watch"]
            durations = ds.videos.set_index("video_id")["duration_seconds"]
            cov = count(sessionize(watches, s.sessions, durations))
            rel = related_lists(cov, s.related)
            counts.append(time.perf_counter() - t0)
        n = len(ds.events)
        print(
            f"read events.csv.gz + videos.csv: median {median(reads):.2f}s = "
            f"{n / median(reads):,.0f} rows/s"
        )
        print(
            f"count (sessions, c_ij, R_i): median {median(counts):.2f}s = "
            f"{n / median(counts):,.0f} events/s; {cov.n_sessions:,} sessions, "
            f"{cov.pairs.nnz // 2:,} pairs, {len(rel):,} RELATED"
        )

        conn = bench_connection(s)
        print(
            f"neo4j: {conn.version()} ({conn.provider}), heap {s.neo4j.heap}, "
            f"page cache {s.neo4j.pagecache}"
        )
        totals, rates = [], []
        for _ in range(args.load_runs):
            timing: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])

            def trace(name: str, rows: int, seconds: float, timing=timing) -> None:
                timing[name][0] += rows
                timing[name][1] += seconds

            graph = Graph(conn.driver, conn.database, tracer=trace)
            wipe_graph(graph)
            state = tmp / "state"
            shutil.rmtree(state, ignore_errors=True)
            t0 = time.perf_counter()
            summary = load(ds, s, graph, state)
            totals.append(time.perf_counter() - t0)
            rates.append(summary.related_edges_written / timing["related_stage"][1])
            slowest = sorted(timing.items(), key=lambda kv: -kv[1][1])[:4]
            print(
                f"load: {totals[-1]:.1f}s for {summary.new_events:,} events; "
                f"{summary.related_edges:,} RELATED at {rates[-1]:,.0f} rel/s; slowest writes: "
                + ", ".join(f"{k} {v[1]:.1f}s" for k, v in slowest)
            )
        print(
            f"full load into Neo4j: median {median(totals):.1f}s = "
            f"{n / median(totals):,.0f} events/s; RELATED written at median "
            f"{median(rates):,.0f} rel/s"
        )
        conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
