"""Offline evaluation: ytgraph against Most Viewed, Top Favorited, Top Rated, Random and SAR.

YouTube judged its recommender against Most Viewed, Top Favorited and Top Rated by click-through
(Davidson et al. 2010, section 4.1: recommendations reached 207% of Most Viewed's CTR). Offline, the
analogue is: cut each user's history into a training part and a test part, build *everything* the
recommender uses from the training part only, recommend ``n`` videos to every test user, and count
how many of the videos they went on to watch the lists held::

    report = evaluate(dataset, settings, protocol="random", n=10, peers=["sar"])
    print(report.table()); report.plot("eval.png"); json.dumps(report.to_json())

**Systems.** Every ytgraph variant (``Variant``: a name and ``{"section.key": value}`` overrides)
recommends through ``recommend_many`` on one ``Graph`` with ``exclude_watched`` on and
``allow_unknown``; variants with the same counting settings (``load.fingerprint``) share one load.
Baselines: ``ytgraph.evaluation.baselines``. Peers (``peers``): ``sar-lift``, ``sar-jaccard``,
``sar-cosine`` (``sar`` = all three) run Microsoft Recommenders' SAR on the same training part in
its own interpreter (``ytgraph.evaluation.peers``), with ``remove_seen=True``; SAR's ``lift`` is
the paper's ``c_ij / (c_i c_j)``.

The splits, metrics and report are ``ytgraph.evaluation.splits``, ``.metrics`` and ``.report``.

Evaluation **empties the database it loads into**: without ``graph`` it runs on a managed server of
its own (``eval_neo4j_settings``: home ``<cache>/home/eval``, ports 57687/57474), stopped at the end
if it was started here and ``keep_server`` is false.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loaders.schema import DAY, Dataset
from ytgraph.config import Neo4jSettings, Settings, profile_settings
from ytgraph.console import Echo, stderr_line
from ytgraph.db.graph import Graph
from ytgraph.db.server import own_server
from ytgraph.errors import ConfigError, InputError, YtGraphError
from ytgraph.evaluation.baselines import (
    BASELINE_LABELS,
    BASELINES,
    baseline_orders,
    random_lists,
    top_excluding,
)
from ytgraph.evaluation.metrics import (
    METRICS,
    USER_METRICS,
    bootstrap_means,
    by_period,
    period_length,
    user_metrics,
)
from ytgraph.evaluation.report import REFERENCE, EvalReport, SystemResult
from ytgraph.evaluation.splits import (
    Split,
    load_training,
    sample_users,
    split_events,
    training_dataset,
)
from ytgraph.ingest.load import fingerprint
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.service import Failed, check_n, recommend_many

PEERS = ("sar-lift", "sar-jaccard", "sar-cosine")
ENGINES = ("neo4j", "memory")
EVAL_BOLT_PORT = 57687
EVAL_HTTP_PORT = 57474


@dataclass(frozen=True)
class Variant:
    """A named ytgraph configuration: ``{"section.key": value}`` on top of the given settings."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def settings(self, base: Settings) -> Settings:
        s = base.with_overrides(dict(self.overrides))
        s.candidates.exclude_watched = True
        return s


DEFAULT_VARIANTS = (Variant("ytgraph"),)


def parse_variants(data: Mapping[str, Any], source: str = "variants") -> list[Variant]:
    """``[[variant]]`` tables (``name``, optional ``overrides`` inline table) into Variants."""
    raw = data.get("variant")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: no [[variant]] tables")
    out: list[Variant] = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ConfigError(f"{source}: variant {i} needs a name")
        extra = set(item) - {"name", "overrides", "profile"}
        if extra:
            raise ConfigError(f"{source}: variant {item['name']!r}: unknown key {sorted(extra)[0]}")
        overrides = item.get("overrides", {})
        if not isinstance(overrides, dict):
            raise ConfigError(f"{source}: variant {item['name']!r}: overrides must be a table")
        if "profile" in item:  # a profile's settings first, the variant's own overrides on top
            base = profile_settings(str(item["profile"])).overrides()
            overrides = {**base, **overrides}
        Settings().with_overrides(overrides)  # unknown keys and bad values fail here
        out.append(Variant(item["name"], dict(overrides)))
    names = [v.name for v in out]
    dup = next((x for x in names if names.count(x) > 1), None)
    if dup is not None:
        raise ConfigError(f"{source}: variant name {dup!r} is used twice")
    return out


def load_variants(path: str | Path) -> list[Variant]:
    """Read ``[[variant]]`` tables from a TOML file (see ``eval/variants.toml``)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"variants file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    return parse_variants(data, str(p))


def _peer_names(peers: Sequence[str]) -> list[str]:
    out: list[str] = []
    for p in peers:
        names = list(PEERS) if p == "sar" else [p]
        for name in names:
            if name not in PEERS:
                raise InputError(f"unknown peer {p!r} (known: sar, {', '.join(PEERS)})")
            if name not in out:
                out.append(name)
    return out


def eval_neo4j_settings(settings: Settings) -> Neo4jSettings:
    """The evaluation's own managed server: home ``<cache>/home/eval``, ports 57687/57474."""
    return own_server(settings.neo4j, "eval", EVAL_BOLT_PORT, EVAL_HTTP_PORT)


@dataclass
class _Run:
    name: str
    kind: str
    lists: dict[str, list[str]]
    personal: dict[str, bool]
    note: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failed: int = 0


def evaluate(
    dataset: Dataset,
    settings: Settings,
    *,
    protocol: str,
    n: int = 10,
    variants: Sequence[Variant] | None = None,
    peers: Sequence[str] = (),
    baselines: Sequence[str] = BASELINES,
    graph: Graph | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    max_users: int | None = None,
    resamples: int = 1000,
    sar_time_decay_days: float = 0.0,
    eval_server: Neo4jSettings | None = None,
    keep_server: bool = False,
    engine: str = "neo4j",
    memory_graphs: dict[str, MemoryGraph] | None = None,
    echo: Echo | None = stderr_line,
) -> EvalReport:
    """Split ``dataset``, load the training part, and measure every system on the test users.

    ``variants`` (default: one, ``ytgraph``, the given settings as they are) share loads by counting
    fingerprint; ``peers`` from ``sar``, ``sar-lift``, ``sar-jaccard``, ``sar-cosine``;
    ``baselines`` from ``BASELINES`` (Most Viewed is always measured: it is the reference).
    ``max_users`` draws that many test users (seeded) to keep a run small. Without ``graph`` the
    run uses ``eval_server`` (default ``eval_neo4j_settings(settings)``), a managed server whose
    database it empties; a given ``graph`` is emptied too. ``engine="memory"`` recommends from a
    ``MemoryGraph`` of the training part instead (no server; the same lists, much faster: what
    ``tune`` searches with); ``memory_graphs`` keeps them by counting fingerprint across calls
    that evaluate the same ``dataset`` the same way. See the module doc for the rest.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    t_start = time.perf_counter()
    say: Echo = echo or (lambda _m: None)
    size = check_n(n)
    variant_list = list(variants) if variants is not None else list(DEFAULT_VARIANTS)
    names = [v.name for v in variant_list]
    if len(set(names)) != len(names):
        raise InputError("evaluate: two variants have the same name")
    variant_settings = [v.settings(settings) for v in variant_list]
    peer_names = _peer_names(peers)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline {unknown[0]!r} (known: {', '.join(BASELINES)})")
    wanted = ["most-viewed", *[b for b in BASELINES if b in baselines and b != "most-viewed"]]

    split = split_events(dataset.events, protocol, test_fraction=test_fraction, seed=seed)
    users = sample_users(split.users, max_users, seed)
    if not users:
        raise InputError(f"evaluate: the {protocol} split leaves no test users")
    truth = split.truth_sets()
    truth_rows = split.truth[split.truth["user_id"].isin(users)]
    say(
        f"ytgraph: {protocol} split: {len(split.train):,} training events, {len(users):,} test "
        f"users, {len(truth_rows):,} test videos"
    )
    seen = {str(u): set(g) for u, g in split.train.groupby("user_id", sort=False)["video_id"]}
    train_data = training_dataset(split, dataset.videos)
    vids = train_data.videos.set_index("video_id")
    channel_of = _lookup(vids, "channel_id")
    category_of = _lookup(vids, "category")
    catalog = int(split.train["video_id"].nunique())
    runs: list[_Run] = []
    notes: list[str] = []

    # Baselines.
    orders = baseline_orders(split.train, settings)
    for b in wanted:
        t0 = time.perf_counter()
        order, note = orders[b]
        label = BASELINE_LABELS[b]
        if order is None:
            notes.append(f"{label}: {note}")
            continue
        if b == "random":
            lists = random_lists(order, seen, users, size, seed)
        else:
            lists = {u: top_excluding(order, seen.get(u, ()), size) for u in users}
        runs.append(_Run(label, "baseline", lists, {}, note, seconds=time.perf_counter() - t0))

    # ytgraph variants: one load per distinct counting fingerprint.
    loads: list[dict[str, Any]] = []
    conn = None
    try:
        if variant_list:
            if graph is None and engine == "neo4j":
                from ytgraph.db.connect import resolve

                neo = eval_server or eval_neo4j_settings(settings)
                conn = resolve(neo, echo=say)
                graph = Graph(conn.driver, conn.database)
            groups: dict[str, list[int]] = {}
            for i, s in enumerate(variant_settings):
                groups.setdefault(fingerprint(s), []).append(i)
            for fp, members in groups.items():
                first = variant_settings[members[0]]
                t0 = time.perf_counter()
                target: Graph | MemoryGraph
                try:
                    if engine == "memory":
                        built = {} if memory_graphs is None else memory_graphs
                        if fp not in built:
                            built[fp] = MemoryGraph.build(train_data, first)
                        target = built[fp]
                        edges = sum(len(r) for r in target.related.values())
                        summary = None
                    else:
                        assert graph is not None
                        target = graph
                        summary = load_training(train_data, first, graph)
                        edges = summary.related_edges
                except YtGraphError as e:
                    failed = ", ".join(variant_list[i].name for i in members)
                    notes.append(f"{failed}: the training load failed ({e}); not measured")
                    say(f"ytgraph: {notes[-1]}")
                    continue
                loads.append(
                    {
                        "variants": [variant_list[i].name for i in members],
                        "fingerprint": fp,
                        "seconds": round(time.perf_counter() - t0, 2),
                        "engine": engine,
                        "sessions": summary.sessions if summary else None,
                        "pairs": summary.pairs if summary else None,
                        "related_edges": edges,
                    }
                )
                say(
                    f"ytgraph: loaded the training part for {', '.join(loads[-1]['variants'])} "
                    f"in {loads[-1]['seconds']:.1f}s ({edges:,} related edges, {engine})"
                )
                for i in members:
                    v, vs = variant_list[i], variant_settings[i]
                    runs.append(_ytgraph_run(target, users, v, vs, size))
                    say(f"ytgraph: {runs[-1].name}: {runs[-1].seconds:.1f}s")
    finally:
        if conn is not None:
            conn.close()
            if conn.started and not keep_server and conn.server is not None:
                conn.server.stop()

    # Peers.
    if peer_names:
        from ytgraph.evaluation.peers import run_sar

        t0 = time.perf_counter()
        sims = [p.split("-", 1)[1] for p in peer_names]
        top = run_sar(
            split.train, users, similarities=sims, k=size,
            time_decay_days=sar_time_decay_days, echo=say,
        )  # fmt: skip
        spent = (time.perf_counter() - t0) / len(sims)
        for sim in sims:
            rows = top[top["similarity"] == sim].sort_values(["user_id", "rank"], kind="stable")
            lists = {str(u): g["video_id"].tolist() for u, g in rows.groupby("user_id", sort=False)}
            pos = rows[rows["score"] > 0]
            personal = {str(u): True for u in pos["user_id"].unique()}
            decay = f", time decay {sar_time_decay_days:g} days" if sar_time_decay_days > 0 else ""
            runs.append(
                _Run(
                    f"SAR {sim}",
                    "peer",
                    lists,
                    personal,
                    f"Microsoft Recommenders SAR, similarity {sim}, remove_seen{decay}",
                    seconds=spent,
                )
            )

    report = _report(
        runs, split, users, truth, truth_rows, size, catalog, channel_of, category_of,
        resamples, seed,
    )  # fmt: skip
    report.loads = loads
    report.notes = notes
    report.seconds = time.perf_counter() - t_start
    return report


def _lookup(videos: pd.DataFrame, column: str) -> dict[str, Any] | None:
    if column not in videos.columns or videos[column].isna().all():
        return None
    col = videos[column].dropna()
    return dict(zip(col.index.astype(str), col.tolist(), strict=True))


def _ytgraph_run(
    graph: Graph | MemoryGraph, users: Sequence[str], variant: Variant, settings: Settings, n: int
) -> _Run:
    t0 = time.perf_counter()
    lists: dict[str, list[str]] = {}
    personal: dict[str, bool] = {}
    failed = 0
    for rec in recommend_many(graph, users, settings, n=n, allow_unknown=True):
        if isinstance(rec, Failed):
            failed += 1
            lists[rec.user_id] = []
            continue
        lists[rec.user_id] = [r.video_id for r in rec.recommendations]
        personal[rec.user_id] = any(not r.popular for r in rec.recommendations)
    note = "" if not failed else f"{failed} users failed"
    return _Run(
        variant.name, "ytgraph", lists, personal, note, dict(variant.overrides),
        time.perf_counter() - t0, failed,
    )  # fmt: skip


def _report(
    runs: list[_Run],
    split: Split,
    users: Sequence[str],
    truth: Mapping[str, Collection[str]],
    truth_rows: pd.DataFrame,
    n: int,
    catalog: int,
    channel_of: Mapping[str, Any] | None,
    category_of: Mapping[str, Any] | None,
    resamples: int,
    seed: int,
) -> EvalReport:
    frames = [
        user_metrics(
            r.lists,
            truth,
            users,
            n,
            personal=r.personal,
            channel_of=channel_of,
            category_of=category_of,
        )
        for r in runs
    ]
    k = len(USER_METRICS)
    stacked = np.hstack([f.to_numpy(dtype="float64") for f in frames]) if frames else None
    means = None if stacked is None else bootstrap_means(stacked, resamples=resamples, seed=seed)
    ref = next(i for i, r in enumerate(runs) if r.name == REFERENCE)
    period_days: int | None = None
    if split.cut is not None and len(truth_rows):
        span = (int(truth_rows["timestamp"].max()) - split.cut) / DAY + 1
        period_days = period_length(span)[0]
    systems = []
    for i, (r, f) in enumerate(zip(runs, frames, strict=True)):
        metrics: dict[str, float | None] = {}
        ci: dict[str, tuple[float, float] | None] = {}
        rel: dict[str, float | None] = {}
        rel_ci: dict[str, tuple[float, float] | None] = {}
        assert means is not None
        for j, name in enumerate(USER_METRICS):
            col = f[name].to_numpy(dtype="float64")
            if np.isnan(col).any():
                metrics[name], ci[name] = None, None
                continue
            metrics[name] = float(col.mean())
            draws = means[:, i * k + j]
            ci[name] = (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))
            ref_col = frames[ref][name].to_numpy(dtype="float64")
            ref_draws = means[:, ref * k + j]
            if ref_col.mean() > 0:
                rel[name] = 100.0 * float(col.mean()) / float(ref_col.mean())
                with np.errstate(all="ignore"):
                    ratio = 100.0 * draws / ref_draws
                ratio = ratio[np.isfinite(ratio)]
                rel_ci[name] = (
                    (float(np.percentile(ratio, 2.5)), float(np.percentile(ratio, 97.5)))
                    if len(ratio)
                    else None
                )
            else:
                rel[name], rel_ci[name] = None, None
        recommended = {v for u in users for v in r.lists.get(u, ())[:n]}
        metrics["catalog_coverage"] = len(recommended) / catalog if catalog else None
        ci["catalog_coverage"] = None
        ref_cov = len({v for u in users for v in runs[ref].lists.get(u, ())[:n]})
        rel["catalog_coverage"] = 100.0 * len(recommended) / ref_cov if ref_cov else None
        systems.append(
            SystemResult(
                name=r.name,
                kind=r.kind,
                metrics={m: metrics.get(m) for m in METRICS},
                ci={m: ci.get(m) for m in METRICS},
                relative={m: rel.get(m) for m in METRICS},
                relative_ci={m: rel_ci.get(m) for m in METRICS},
                note=r.note,
                overrides=r.overrides,
                seconds=r.seconds,
                failed_users=r.failed,
                by_period=(
                    by_period(r.lists, truth_rows, split.cut, n, period_days)
                    if period_days is not None and split.cut is not None
                    else []
                ),
            )
        )
    summary = split.summary()
    summary["test_users"] = len(users)
    summary["truth_pairs"] = len(truth_rows)
    return EvalReport(
        protocol=split.protocol,
        n=n,
        seed=seed,
        split=summary,
        systems=systems,
        period_days=period_days,
        resamples=resamples,
    )
