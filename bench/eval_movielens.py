"""Offline evaluation on MovieLens (ml-latest-small): ytgraph vs the baselines and SAR.

    python bench/eval_movielens.py [--protocols temporal,last-n,random] [--n 10] [--seed 0]
        [--variants eval/variants.toml] [--no-sar] [--max-users N] [--out bench/out/eval]

For each protocol: prints the table, writes ``<out>/<protocol>.json`` and ``<out>/<protocol>.png``.
The data folder is ``$YTGRAPH_DATA/ml-latest-small`` (default ``../shared/data``). The evaluation
server (home ``<cache>/home/eval``, ports 57687/57474) is started once and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loaders import read_dataset  # noqa: E402
from ytgraph.config import load_settings  # noqa: E402
from ytgraph.evaluate import PROTOCOLS, eval_neo4j_settings, evaluate, load_variants  # noqa: E402
from ytgraph.server import ManagedServer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocols", default=",".join(PROTOCOLS))
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default=None, help="a TOML file of [[variant]] tables")
    p.add_argument("--no-sar", action="store_true")
    p.add_argument("--max-users", type=int, default=None)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "eval"))
    args = p.parse_args(argv)

    data = Path(os.environ.get("YTGRAPH_DATA", REPO.parent / "shared" / "data"))
    dataset = read_dataset("movielens", [data / "ml-latest-small"], None, False)
    settings = load_settings()
    variants = load_variants(args.variants) if args.variants else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    neo = eval_neo4j_settings(settings)
    server = ManagedServer(neo)
    started_here = server.pid() is None
    try:
        for protocol in [x.strip() for x in args.protocols.split(",") if x.strip()]:
            t0 = time.perf_counter()
            report = evaluate(
                dataset, settings, protocol=protocol, n=args.n, variants=variants,
                peers=[] if args.no_sar else ["sar"], seed=args.seed, max_users=args.max_users,
                resamples=args.resamples, keep_server=True,
            )  # fmt: skip
            print(report.table())
            print(f"({protocol}: {time.perf_counter() - t0:.0f}s)\n")
            (out / f"{protocol}.json").write_text(json.dumps(report.to_json(), indent=1))
            report.plot(out / f"{protocol}.png")
    finally:
        if started_here:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
