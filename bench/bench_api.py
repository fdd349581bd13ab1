"""Throughput and latency of `ytgraph api` under concurrent clients, online and precomputed.

Generates and loads a small world (the `generate` + `load` pipeline) on a bench server of its own
(ports 48687/48474, home <cache>/home/bench-api: never bench_recommend.py's), starts `ytgraph api`
in a subprocess against it, and has --clients threads, each on one keep-alive `http.client`
connection, GET /recommend/{user} for random users: first with no stored lists (online), then
after `precompute` (the stored list, one query), both with the process's pool cache off
(`[serving] cache_users = 0`); then a second `ytgraph api` with the cache on (the default), once
every user was visited (no round trip a visit). Prints requests/s, p50/p99 latency and errors
per run and their medians. Clients, server and Neo4j share the machine.

    python bench/bench_api.py                       # 2,000 users, 2,500 videos, 14 days
    python bench/bench_api.py --runs 5 --requests 1600
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, median, percentile
from ytgraph.config import Settings, cache_dir, load_settings
from ytgraph.db.connect import Connection, resolve
from ytgraph.db.graph import Graph

REPO = Path(__file__).resolve().parent.parent


def api_bench_settings() -> Settings:
    """A managed server of its own (ports 48687/48474) unless NEO4J_URI says otherwise."""
    s = load_settings()
    if not s.neo4j.uri:
        s.neo4j.bolt_port, s.neo4j.http_port = 48687, 48474
        s.neo4j.home = str(cache_dir() / "home" / "bench-api")
        s.neo4j.heap, s.neo4j.pagecache = "1g", "512m"  # a small world; the machine is shared
    return s


def build(graph: Graph, s: Settings, users: int, videos: int, days: int, seed: int) -> list[str]:
    """Generate a world, load it into the emptied graph; returns its user ids."""
    from loaders import read_dataset
    from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world
    from ytgraph.ingest.load import load, wipe_graph

    events, vids = generate_world(GenerateConfig(users=users, videos=videos, days=days, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_world(events, vids, tmp)
        dataset = read_dataset("canonical", [str(paths["events"])], str(paths["videos"]))
        wipe_graph(graph)
        summary = load(dataset, s, graph, Path(tmp) / "state")
    print(
        f"world: {users:,} users, {videos:,} videos, {days} days: {summary.new_events:,} events, "
        f"{summary.related_edges:,} RELATED, loaded in {summary.seconds:.1f}s"
    )
    return sorted(events["user_id"].unique())


def start_api(conn: Connection, **settings: str) -> tuple[subprocess.Popen[str], int]:
    """`ytgraph api` in a subprocess on a free port, pointed at ``conn``, with ``settings`` as
    ``YTGRAPH_*`` variables; returns once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env.update(
        PYTHONPATH=str(REPO), NEO4J_URI=conn.uri, NEO4J_USER=conn.user, NEO4J_PASSWORD=conn.password
    )
    env.update(settings)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ytgraph.cli", "-q", "api", "--port", str(port)], env=env, text=True
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"ytgraph api did not start (exit {proc.poll()})")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    seconds: float
    server_cpu_ms: float = 0.0  # the API process's CPU per request: less noisy than wall time
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sources: Counter[str] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds


def hammer(port: int, pid: int, paths: list[str], clients: int) -> Run:
    """``paths`` split over ``clients`` threads, each on one keep-alive connection, all at once."""
    start = threading.Barrier(clients + 1)

    def client(chunk: list[str]) -> tuple[list[float], int, Counter[str]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        lat, errors, sources = [], 0, Counter[str]()
        start.wait()
        for path in chunk:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                errors += r.status != 200
                sources[r.getheader("X-Recommendations-Source") or "?"] += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            lat.append((time.perf_counter() - t0) * 1000)
        conn.close()
        return lat, errors, sources

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, paths[i::clients]) for i in range(clients)]
        start.wait()
        t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
        parts = [f.result() for f in futures]
        run = Run(time.perf_counter() - t0, (cpu_seconds(pid) - cpu0) * 1000 / len(paths))
    for lat, errors, sources in parts:
        run.latencies_ms += lat
        run.errors += errors
        run.sources += sources
    return run


def measure(
    label: str,
    port: int,
    pid: int,
    users: list[str],
    args: argparse.Namespace,
    *,
    everyone: bool = False,
) -> None:
    """``args.runs`` runs of random users' visits, after a warm-up: a few visits, or with
    ``everyone`` one visit of every user (what fills the process's pool cache)."""
    rng = np.random.default_rng(args.seed + 1)
    warm_users = users if everyone else rng.choice(users, size=args.clients * 10)
    warm = [f"/recommend/{u}" for u in warm_users]
    hammer(port, pid, warm, args.clients)
    runs = []
    for k in range(args.runs):
        paths = [f"/recommend/{u}" for u in rng.choice(users, size=args.requests)]
        run = hammer(port, pid, paths, args.clients)
        runs.append(run)
        print(
            f"  run {k + 1}: {len(run.latencies_ms)} requests in {run.seconds:.1f}s = "
            f"{run.rps:.0f} req/s, p50 {percentile(run.latencies_ms, 50):.1f} ms, "
            f"p99 {percentile(run.latencies_ms, 99):.1f} ms, {run.errors} errors, "
            f"API CPU {run.server_cpu_ms:.1f} ms/request, served {dict(run.sources)}"
        )
    print(
        f"{label}, {args.clients} clients: {median([r.rps for r in runs]):.0f} req/s, "
        f"p50 {median([percentile(r.latencies_ms, 50) for r in runs]):.1f} ms, "
        f"p99 {median([percentile(r.latencies_ms, 99) for r in runs]):.1f} ms, "
        f"API CPU {median([r.server_cpu_ms for r in runs]):.1f} ms/request, "
        f"errors {sum(r.errors for r in runs)} (medians over {args.runs} runs of {args.requests})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--videos", type=int, default=2_500)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=800, help="requests per run, all clients")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    s = api_bench_settings()
    conn = resolve(s.neo4j)
    graph = Graph(conn.driver, conn.database)
    print(f"machine: {machine()}")
    print(f"neo4j: {conn.version()} ({conn.provider}), heap {s.neo4j.heap}")
    users = build(graph, s, args.users, args.videos, args.days, args.seed)
    proc, port = start_api(conn, YTGRAPH_SERVING__CACHE_USERS="0")
    try:
        measure("GET /recommend online", port, proc.pid, users, args)
        from ytgraph.recommendation.serve import precompute

        report = precompute(graph, s)  # the settings the API process reads too
        print(f"precompute: {report.stored:,} lists in {report.seconds:.1f}s")
        measure("GET /recommend precomputed, a round trip a visit", port, proc.pid, users, args)
    finally:
        stop_api(proc)
    proc, port = start_api(conn)
    try:
        measure(
            "GET /recommend precomputed, pool cache", port, proc.pid, users, args, everyone=True
        )
    finally:
        stop_api(proc)
        conn.close()


def stop_api(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(30)


if __name__ == "__main__":
    main()
