"""Run Microsoft Recommenders' SAR on a training table and write each test user's top k.

This script runs in SAR's own virtualenv (see ``ytgraph.evaluation.peers``), never inside ytgraph's: it imports
nothing from ytgraph. Usage::

    python sar_runner.py --train train.csv --users users.txt --out topk.csv \
        --similarity lift,jaccard,cosine --k 10 [--time-decay-days 30]

``train.csv``: ``user_id,video_id,rating,timestamp`` (one row per user and video, epoch seconds);
``users.txt``: one user id per line (every one must occur in the training table).
``topk.csv`` gets ``similarity,user_id,rank,video_id,score`` with ``remove_seen=True``: nothing a
user has in the training table is recommended back. One fit per similarity type, one process.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--similarity", default="jaccard", help="comma-separated SAR similarity types")
    p.add_argument("--k", type=int, default=10)
    p.add_argument(
        "--time-decay-days",
        type=float,
        default=0.0,
        help="half-life of SAR's time decay of affinities in days; 0: no decay",
    )
    args = p.parse_args(argv)

    import logging

    import pandas as pd
    from recommenders.models.sar import SAR

    logging.getLogger("recommenders").setLevel(logging.WARNING)
    train = pd.read_csv(
        args.train,
        dtype={"user_id": str, "video_id": str, "rating": float, "timestamp": "int64"},  # type: ignore[arg-type]
        keep_default_na=False,
    )
    with open(args.users, encoding="utf-8") as f:
        users = [line.rstrip("\n") for line in f if line.rstrip("\n")]
    test = pd.DataFrame({"user_id": users})
    decay = args.time_decay_days > 0
    with open(args.out, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["similarity", "user_id", "rank", "video_id", "score"])
        for sim in [s.strip() for s in args.similarity.split(",") if s.strip()]:
            t0 = time.perf_counter()
            model = SAR(
                col_user="user_id",
                col_item="video_id",
                col_rating="rating",
                col_timestamp="timestamp",
                col_prediction="prediction",
                similarity_type=sim,
                time_decay_coefficient=args.time_decay_days if decay else 30,
                timedecay_formula=decay,
                normalize=False,
            )
            model.fit(train)
            top = model.recommend_k_items(test, top_k=args.k, sort_top_k=True, remove_seen=True)
            top["rank"] = top.groupby("user_id", sort=False).cumcount() + 1
            for row in top.itertuples(index=False):
                w.writerow([sim, row.user_id, row.rank, row.video_id, float(row.prediction)])
            print(f"sar {sim}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
