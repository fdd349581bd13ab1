"""Offline evaluation on every data set we have: ytgraph vs the baselines and SAR, three protocols.

    python bench/eval_datasets.py [--datasets movielens,youtube2008,world-a,world-b]
        [--protocols temporal,last-n,random] [--variants eval/defaults.toml] [--no-sar]
        [--max-users N] [--n 10] [--seed 0] [--engine neo4j|memory] [--tune BUDGET]
        [--out bench/out/eval]

The data sets:

``movielens``    ``ml-latest-small`` (a rating is a watch and a rate at its timestamp).
``youtube2008``  the 2008 crawl's metadata with sessions walked along its related lists
                 (``loaders.walk_sessions``: 1,500 users, 6 sessions of up to 8 videos).
``world-a``      a generated world of the demo's shape: Zipf popularity, short sessions.
``world-b``      a generated world of another shape: flatter popularity, three times the
                 catalogue, longer sessions that follow hidden neighbours more often.

With ``--tune BUDGET``, ``ytgraph tune`` first chooses settings on a validation split carved from
that split's training part, and its choice is measured beside the variants ("ytgraph tune").

For each (data set, protocol): the table, ``<out>/<data set>-<protocol>.json`` and ``.png``; at the end, one
summary table (P@10, HR@10, nDCG@10 with 95% intervals; P@10 relative to SAR's best and to Most
Viewed). The evaluation server (home ``<cache>/home/eval``, ports 57687/57474) is started once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402
from loaders import read_dataset, walk_sessions  # noqa: E402
from loaders.schema import Dataset  # noqa: E402
from ytgraph.config import load_settings  # noqa: E402
from ytgraph.db.server import ManagedServer  # noqa: E402
from ytgraph.evaluation.offline import (  # noqa: E402
    DEFAULT_VARIANTS,
    Variant,
    eval_neo4j_settings,
    evaluate,
    load_variants,
)
from ytgraph.evaluation.splits import PROTOCOLS  # noqa: E402
from ytgraph.evaluation.tune import tune  # noqa: E402
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world  # noqa: E402

DATA = Path(os.environ.get("YTGRAPH_DATA", REPO.parent / "shared" / "data"))

WORLDS = {
    "world-a": GenerateConfig(users=2_000, videos=2_500, days=30, seed=11),
    "world-b": GenerateConfig(
        users=1_500,
        videos=7_500,
        days=30,
        seed=12,
        categories=30,
        zipf_exponent=0.7,
        mean_session_length=10.0,
        p_neighbour=0.65,
        p_channel=0.1,
        p_category=0.1,
    ),
}


def _movielens() -> Dataset:
    return read_dataset("movielens", [DATA / "ml-latest-small"])


def _youtube2008() -> Dataset:
    crawl = read_dataset("youtube2008", [DATA / "youtube-2008" / "youtubedata.txt"])
    events = walk_sessions(crawl, users=1_500, sessions_per_user=6, session_length=8, seed=3)
    return Dataset(events=events, videos=crawl.videos, report=crawl.report)


def _world(name: str) -> Callable[[], Dataset]:
    def make() -> Dataset:
        events, videos = generate_world(WORLDS[name])
        with tempfile.TemporaryDirectory() as tmp:
            files = write_world(events, videos, tmp)
            return read_dataset("canonical", [files["events"]], files["videos"])

    return make


DATASETS: dict[str, Callable[[], Dataset]] = {
    "movielens": _movielens,
    "youtube2008": _youtube2008,
    "world-a": _world("world-a"),
    "world-b": _world("world-b"),
}


def _fmt(metric: dict[str, Any], ci: dict[str, Any], key: str) -> str:
    value, interval = metric.get(key), ci.get(key)
    if value is None:
        return "n/a"
    if not interval:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def summary(reports: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One markdown table: every system on every (data set, protocol)."""
    lines = [
        "| data set | protocol | system | P@10 [95% CI] | HR@10 [95% CI] | nDCG@10 [95% CI] "
        "| P@10 / SAR best | P@10 / Most Viewed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, protocol), rep in reports.items():
        systems = rep["systems"]
        sar = [s for s in systems if s["name"].startswith("SAR")]
        sar_best = max((s["metrics"]["precision"] or 0.0 for s in sar), default=None)
        mv = next(s for s in systems if s["name"] == "Most Viewed")["metrics"]["precision"]
        for s in systems:
            if s["kind"] == "baseline" and s["name"] != "Most Viewed":
                continue
            m, ci = s["metrics"], s["ci95"]
            p = m["precision"] or 0.0
            vs_sar = f"{p / sar_best:.2f}x" if sar_best else "n/a"
            vs_mv = f"{p / mv:.2f}x" if mv else "n/a"
            lines.append(
                f"| {dataset} | {protocol} | {s['name']} | {_fmt(m, ci, 'precision')} | "
                f"{_fmt(m, ci, 'hit_rate')} | {_fmt(m, ci, 'ndcg')} | {vs_sar} | {vs_mv} |"
            )
    return "\n".join(lines)


def _precision(systems: dict[str, dict[str, Any]], name: str) -> str:
    s = systems.get(name)
    return "n/a" if s is None else f"{s['metrics']['precision']:.3f}"


def compact(reports: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One row a split: P@10 of Most Viewed, SAR's best, the paper, the defaults and tune; the
    defaults' HR@10 and nDCG@10 with intervals; the defaults over SAR's best and Most Viewed."""
    lines = [
        "| data set | protocol | Most Viewed | SAR best | paper | **default** [95% CI] "
        "| tune | default HR@10 | default nDCG@10 | default / SAR | default / MV |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, protocol), rep in reports.items():
        by = {s["name"]: s for s in rep["systems"]}
        sar = max(
            (s for s in rep["systems"] if s["name"].startswith("SAR")),
            key=lambda s: s["metrics"]["precision"] or 0.0,
            default=None,
        )
        d = by["ytgraph default"]
        m, ci = d["metrics"], d["ci95"]
        dp, mv = m["precision"], by["Most Viewed"]["metrics"]["precision"]
        sp = sar["metrics"]["precision"] if sar else None
        sar_text = f"{sp:.3f} ({sar['name'][4:]})" if sar and sp is not None else "n/a"
        vs_sar = f"{dp / sp:.2f}x" if sp else "n/a"
        vs_mv = f"{dp / mv:.2f}x" if mv else "n/a"
        lines.append(
            f"| {dataset} | {protocol} | {_precision(by, 'Most Viewed')} | {sar_text} "
            f"| {_precision(by, 'ytgraph paper')} | **{_fmt(m, ci, 'precision')}** "
            f"| {_precision(by, 'ytgraph tune')} | {_fmt(m, ci, 'hit_rate')} "
            f"| {_fmt(m, ci, 'ndcg')} | {vs_sar} | {vs_mv} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--protocols", default=",".join(PROTOCOLS))
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default=None, help="a TOML file of [[variant]] tables")
    p.add_argument("--no-sar", action="store_true")
    p.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="BUDGET",
        help="also run `ytgraph tune` on each split (this many trials) and measure its choice",
    )
    p.add_argument("--tune-users", type=int, default=400, help="validation users a trial uses")
    p.add_argument(
        "--engine", default="neo4j", help="neo4j (a real load) or memory (the same lists, faster)"
    )
    p.add_argument("--max-users", type=int, default=None)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "eval"))
    args = p.parse_args(argv)

    names = [x.strip() for x in args.datasets.split(",") if x.strip()]
    unknown = [x for x in names if x not in DATASETS]
    if unknown:
        p.error(f"unknown data set {unknown[0]!r} (known: {', '.join(DATASETS)})")
    settings = load_settings()
    variants = load_variants(args.variants) if args.variants else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    server = ManagedServer(eval_neo4j_settings(settings))
    started_here = server.pid() is None and args.engine == "neo4j"
    reports: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        for name in names:
            dataset = DATASETS[name]()
            print(f"{name}: {len(dataset.events):,} events, {len(dataset.videos):,} videos")
            for protocol in [x.strip() for x in args.protocols.split(",") if x.strip()]:
                t0 = time.perf_counter()
                systems = list(variants or DEFAULT_VARIANTS)
                if args.tune:
                    tuned = tune(
                        dataset, settings, protocol=protocol, n=args.n, budget=args.tune,
                        seed=args.seed, max_users=args.tune_users, measure_test=False,
                    )  # fmt: skip
                    print(f"tune ({name} {protocol}): {tuned.chosen}", flush=True)
                    systems.append(Variant("ytgraph tune", tuned.chosen))
                report = evaluate(
                    dataset, settings, protocol=protocol, n=args.n, variants=systems,
                    peers=[] if args.no_sar else ["sar"], seed=args.seed,
                    max_users=args.max_users, resamples=args.resamples, keep_server=True,
                    engine=args.engine,
                )  # fmt: skip
                print(f"\n## {name}, {protocol}\n\n{report.table()}")
                print(f"({name} {protocol}: {time.perf_counter() - t0:.0f}s)", flush=True)
                data = report.to_json()
                (out / f"{name}-{protocol}.json").write_text(json.dumps(data, indent=1))
                report.plot(out / f"{name}-{protocol}.png")
                reports[(name, protocol)] = data
    finally:
        if started_here:
            server.stop()
    print("\n" + summary(reports))
    if all("ytgraph default" in {s["name"] for s in r["systems"]} for r in reports.values()):
        print("\n" + compact(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
