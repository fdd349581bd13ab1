"""Loads at scale: generated worlds of ~1M and ~10M events, loaded by the ``ytgraph`` command as a
user would, then one more day of events loaded incrementally.

For each world and write path (``bulk``: the first load through neo4j-admin import; ``driver``:
driver transactions) it prints the wall time of every load stage (from the command's stage lines),
events/s, RELATED/s, and the peak memory of the client (the ``ytgraph load`` process) and of the
server (the largest VmHWM of the Neo4j JVM, and of the neo4j-admin JVM during an import), sampled
from /proc. Figures only: nothing here asserts a time.

    python bench/bench_scale.py                       # 1M and 10M events, bulk path
    python bench/bench_scale.py --sizes 1m --paths bulk,driver
    python bench/bench_scale.py --sizes 10m --keep /tmp/scale-world-bench

The server is a managed one of its own (home ``<cache>/home/bench-scale``, ports 46687/46474,
the default 3 GB heap); ``YTGRAPH_NEO4J__*`` in the environment override that.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from ytgraph.config import cache_dir
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world

SIZES = {  # name -> (users, videos, days): about 1M and 10M events
    "1m": (20_000, 10_000, 30),
    "10m": (200_000, 100_000, 30),
}
REPO = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"ytgraph:\s+([\d.]+)s (.+?)( done \(peak RSS|\.\.\.)")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.setdefault("YTGRAPH_NEO4J__HOME", str(cache_dir() / "home" / "bench-scale"))
    e.setdefault("YTGRAPH_NEO4J__BOLT_PORT", "46687")
    e.setdefault("YTGRAPH_NEO4J__HTTP_PORT", "46474")
    e["PYTHONPATH"] = str(REPO)
    return e


def vm_hwm(pid: int) -> int:
    """Peak resident memory of a process in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def java_pids(home: str) -> tuple[list[int], list[int]]:
    """(server JVMs of ``home``, neo4j-admin JVMs of ``home``)."""
    server, admin = [], []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (proc / "cmdline").read_bytes()
            if f"--home-dir={home}".encode() in cmd:
                server.append(int(proc.name))
            elif b"org.neo4j.cli.AdminTool" in cmd and f"{home}/lib".encode() in cmd:
                admin.append(int(proc.name))
    return server, admin


@dataclass
class Peaks:
    client: int = 0
    server: int = 0
    admin: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, pid: int, home: str) -> None:
        while not self.stop.is_set():
            self.client = max(self.client, vm_hwm(pid))
            servers, admins = java_pids(home)
            self.server = max([self.server, *map(vm_hwm, servers)])
            self.admin = max([self.admin, *map(vm_hwm, admins)])
            time.sleep(0.25)


@contextlib.contextmanager
def sampled(pid: int, home: str) -> Iterator[Peaks]:
    peaks = Peaks()
    t = threading.Thread(target=peaks.watch, args=(pid, home), daemon=True)
    t.start()
    try:
        yield peaks
    finally:
        peaks.stop.set()
        t.join()


@dataclass
class Run:
    seconds: float
    stages: dict[str, float]
    peaks: Peaks
    out: str


def ytgraph(
    args: list[str], extra: dict[str, str], cwd: Path, timeout: float | None = None
) -> Run | None:
    """Run one command, sampling memory; None when it ran past ``timeout`` (then killed)."""
    e = env() | extra
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ytgraph.cli", *args],
        env=e,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with sampled(proc.pid, e["YTGRAPH_NEO4J__HOME"]) as peaks:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ytgraph {' '.join(args)} failed:\n{err[-2000:]}")
    started: dict[str, float] = {}
    stages: dict[str, float] = {}
    for m in _LINE.finditer(err):
        t, stage, kind = float(m.group(1)), m.group(2), m.group(3)
        if kind == "...":
            started[stage] = t
        elif stage in started:
            stages[stage] = t - started[stage]
    return Run(seconds, stages, peaks, out)


def gb(n: int) -> str:
    return f"{n / 2**30:.2f}"


def world(name: str, root: Path) -> tuple[Path, Path, Path, int, int]:
    """(first events, the last day's events, videos, how many of each)."""
    users, videos, days = SIZES[name]
    events, vids = generate_world(GenerateConfig(users=users, videos=videos, days=days + 1, seed=7))
    last_day = events["timestamp"] >= events["timestamp"].max() - 86_400 + 1
    first = write_world(events[~last_day], vids, root / name)
    day2 = root / name / "day2.csv.gz"
    events[last_day].to_csv(day2, index=False)
    return first["events"], day2, first["videos"], int((~last_day).sum()), int(last_day.sum())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1m,10m", help="comma-separated: 1m, 10m")
    ap.add_argument("--paths", default="bulk", help="comma-separated: bulk, driver")
    ap.add_argument("--keep", type=Path, help="generate the worlds here and keep them")
    ap.add_argument(
        "--next-day-timeout", type=float, default=900, help="give up on the next day's load after"
    )
    args = ap.parse_args()
    print(f"machine: {machine()}")
    e = env()
    print(f"server: home {e['YTGRAPH_NEO4J__HOME']}, bolt {e['YTGRAPH_NEO4J__BOLT_PORT']}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="ytgraph-scale-"))
    rows = []
    for size in args.sizes.split(","):
        t0 = time.perf_counter()
        events, day2, videos, n1, n2 = world(size, root)
        print(f"{size}: {n1:,} events + {n2:,} on the next day ({time.perf_counter() - t0:.0f}s)")
        for path in args.paths.split(","):
            extra = {"YTGRAPH_LOAD__BULK_IMPORT_MIN_EVENTS": "0" if path == "bulk" else "-1"}
            state = root / f"state-{size}-{path}"
            ytgraph(["reset", "--yes", "--state-dir", str(state)], extra, root)
            first = ytgraph(
                ["load", str(events), "--videos", str(videos), "--state-dir", str(state), "--json"],
                extra,
                root,
            )
            assert first is not None
            related = int(re.search(r'"related_edges": (\d+)', first.out).group(1))  # type: ignore[union-attr]
            write = first.stages.get("neo4j-admin import") or sum(
                v for k, v in first.stages.items() if k.startswith(("stage related", "upsert"))
            )
            inc = ytgraph(
                ["load", str(day2), "--state-dir", str(state), "--json"],
                extra,
                root,
                timeout=args.next_day_timeout,
            )
            rows.append((size, path, n1, n2, related, first, inc, write))
            stages = ", ".join(f"{k} {v:.1f}s" for k, v in first.stages.items() if v >= 0.5)
            print(f"  {path} first load {first.seconds:.0f}s: {stages}")
            if inc is None:
                print(f"  {path} next day: not done after {args.next_day_timeout:.0f}s, stopped")
            else:
                stages = ", ".join(f"{k} {v:.1f}s" for k, v in inc.stages.items() if v >= 0.5)
                print(f"  {path} next day {inc.seconds:.0f}s: {stages}")
                rewritten = int(re.search(r'"related_edges_written": (\d+)', inc.out).group(1))  # type: ignore[union-attr]
                staging = inc.stages.get("stage related", 0.0)
                print(
                    f"  {path} next day: {rewritten:,} RELATED staged in {staging:.0f}s "
                    f"({rewritten / staging if staging else 0:,.0f}/s), pruned in "
                    f"{inc.stages.get('prune related', 0.0):.0f}s"
                )
    print()
    print(
        "| events | path | first load | events/s | RELATED | RELATED/s (import or writes) "
        "| client peak GB | server peak GB | admin JVM GB | next day | its client/server GB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for _size, path, n1, n2, related, first, inc, write in rows:
        print(
            f"| {n1:,} | {path} | {first.seconds:.0f}s | {n1 / first.seconds:,.0f} | {related:,} "
            f"| {related / write if write else 0:,.0f} | {gb(first.peaks.client)} "
            f"| {gb(first.peaks.server)} | {gb(first.peaks.admin)} "
            + (
                f"| {n2:,} events: not done in {args.next_day_timeout:.0f}s | - |"
                if inc is None
                else f"| {n2:,} events in {inc.seconds:.0f}s "
                f"| {gb(inc.peaks.client)} / {gb(inc.peaks.server)} |"
            )
        )


if __name__ == "__main__":
    main()
