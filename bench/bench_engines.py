"""The counting on each engine: sessions, c_i/c_ij and R_i, in process and on Spark.

Generates a world (default ≈ 1M events, as bench_load.py), then times each stage on each engine
and prints the medians, and checks that both engines gave the same tables. No Neo4j: the write
path after the counting is the same whichever engine counted.

    python bench/bench_engines.py                          # spark on local[2]
    python bench/bench_engines.py --master local[*] --runs 5
    python bench/bench_engines.py --users 2000 --videos 2000 --days 7   # a quick look

Spark's stages include its Parquet exchange with this process: the events written, the results
read back into the count state's form (what a load does).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, median
from ytgraph.config import load_settings
from ytgraph.ingest.covisit import Covisits, count
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.related import related_lists
from ytgraph.ingest.sessions import sessionize


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--videos", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3, help="repeats of each engine's stages")
    ap.add_argument("--master", default="local[2]", help="Spark master URL")
    args = ap.parse_args()

    from ytgraph.ingest.engines.spark import SparkEngine, spark_session

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # runs as they end
    s = load_settings()
    print(f"machine: {machine()}")
    events, videos = generate_world(
        GenerateConfig(users=args.users, videos=args.videos, days=args.days, seed=args.seed)
    )
    watches = events[events["event"] == "watch"]
    durations = videos.set_index("video_id")["duration_seconds"]
    print(f"world: {len(events):,} events ({len(watches):,} watches), {len(videos):,} videos")
    print(f"settings: {s.related.normalization}, top_n {s.related.top_n}, "
          f"min_count {s.related.min_count}, window {s.sessions.window_hours} h")  # fmt: skip

    stages: dict[str, dict[str, list[float]]] = {"inprocess": {}, "spark": {}}

    def note(engine: str, stage: str, seconds: float) -> None:
        stages[engine].setdefault(stage, []).append(seconds)

    ref_cov: Covisits | None = None
    ref_rel = None
    for _ in range(args.runs):
        t_s, sessions = timed(lambda: sessionize(watches, s.sessions, durations))
        t_c, ref_cov = timed(lambda: count(sessions))  # noqa: B023
        t_r, ref_rel = timed(lambda: related_lists(ref_cov, s.related))  # noqa: B023
        for stage, t in (("sessions", t_s), ("c_i, c_ij", t_c), ("R_i", t_r)):
            note("inprocess", stage, t)
        note("inprocess", "total", t_s + t_c + t_r)
        print(f"  inprocess run: sessions {t_s:.1f}s, c_i/c_ij {t_c:.1f}s, R_i {t_r:.1f}s")

    scratch = Path(tempfile.mkdtemp(prefix="ytgraph-bench-spark-"))
    try:
        t_start, spark = timed(lambda: spark_session(args.master, scratch))
        print(f"spark {spark.version} on {args.master}: session started in {t_start:.1f}s")
        with SparkEngine(spark, scratch) as engine:
            same = True
            for _ in range(args.runs):
                t_s, path = timed(lambda: engine.sessions_file(watches, s.sessions, durations))
                assert path is not None
                t_c, cov = timed(lambda: engine.count_sessions(path))  # noqa: B023
                t_r, rel = timed(lambda: engine.related(cov, s.related))  # noqa: B023
                for stage, t in (("sessions", t_s), ("c_i, c_ij", t_c), ("R_i", t_r)):
                    note("spark", stage, t)
                note("spark", "total", t_s + t_c + t_r)
                print(f"  spark run: sessions {t_s:.1f}s, c_i/c_ij {t_c:.1f}s, R_i {t_r:.1f}s")
                assert ref_cov is not None and ref_rel is not None
                same &= cov.equals(ref_cov) and rel[["src", "dst", "rank"]].equals(
                    ref_rel[["src", "dst", "rank"]]
                )
        spark.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    assert ref_cov is not None and ref_rel is not None
    print(
        f"counts: {ref_cov.n_sessions:,} sessions, {ref_cov.nnz // 2:,} pairs, "
        f"{len(ref_rel):,} RELATED; engines equal: {same}"
    )
    print(f"median of {args.runs} runs, seconds (events/s):")
    print(f"  {'stage':<10} {'inprocess':>22} {'spark ' + args.master:>22}")
    for stage in ("sessions", "c_i, c_ij", "R_i", "total"):
        cells = []
        for name in ("inprocess", "spark"):
            m = median(stages[name][stage])
            cells.append(f"{m:8.2f} ({len(events) / m:>10,.0f})")
        print(f"  {stage:<10} {cells[0]:>22} {cells[1]:>22}")


if __name__ == "__main__":
    main()
