"""Shared pieces of the benchmarks: the machine line, medians, a bench server of its own."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

from ytgraph.config import Settings, cache_dir, load_settings
from ytgraph.db.connect import Connection, resolve


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, Python {platform.python_version()}, "
        f"{java[0] if java else 'java ?'}"
    )


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def bench_settings() -> Settings:
    """A managed server of its own (ports 47687/47474) unless NEO4J_URI says otherwise."""
    s = load_settings()
    if not s.neo4j.uri:
        s.neo4j.bolt_port, s.neo4j.http_port = 47687, 47474
        s.neo4j.home = str(cache_dir() / "home" / "bench")
        s.neo4j.heap, s.neo4j.pagecache = "4g", "2g"
    return s


def bench_connection(s: Settings) -> Connection:
    return resolve(s.neo4j)
