"""Settings chosen by measurement on the user's own data (``ytgraph tune``), and learned ranker weights.

The test part is never read while choosing. ``tune`` splits the events by ``protocol`` into a
training and a test part exactly as ``evaluate`` does; from here on only the training part is
handed to the search, which splits *it* the same way again into a fit part and a **validation**
part. Every trial recommends from a ``MemoryGraph`` of the fit part (the same lists a Neo4j load
would give, far faster) and is scored on the validation users.

**Search**: coordinate ascent over ``SPACE``, one group of settings at a time in a fixed order
(relatedness first: it matters most), each group's options measured side by side and the best
kept only when it beats the current choice on ``metric``; at most ``budget`` trials. Then the
ranker's weights are **learned** (``fit_weights``, a non-negative logistic regression, then
``refine_weights``, coordinate ascent on nDCG@n) from the candidates the chosen settings find for
the validation users, labelled by whether the user went on to watch them, and kept when they beat
the hand-set weights on validation. Last, the chosen settings and the starting ones are measured
once on the real test part, for the report only. Deterministic for a seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from loaders.schema import Dataset
from ytgraph.config import Settings
from ytgraph.console import Echo
from ytgraph.errors import InputError
from ytgraph.evaluation.offline import Variant, evaluate
from ytgraph.evaluation.report import EvalReport, SystemResult
from ytgraph.evaluation.splits import sample_users, split_events, training_dataset
from ytgraph.ingest.load import fingerprint
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.ranking import SIGNALS
from ytgraph.recommendation.service import Recommendations, recommend

METRICS = ("precision", "hit_rate", "ndcg", "recall")
DEFAULT_BUDGET = 26  # the start, every option of SPACE that differs from the defaults, learning

# The groups the search walks through, in order; each option is a set of overrides.
SPACE: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = (
    (
        "relatedness",
        (
            {"related.normalization": "llr", "related.damping": 0.0},
            {"related.normalization": "cosine", "related.damping": 0.0},
            {"related.normalization": "cosine", "related.damping": 20.0},
            {"related.normalization": "jaccard", "related.damping": 0.0},
            {"related.normalization": "product", "related.damping": 20.0},
            {"related.normalization": "product", "related.damping": 0.0},
        ),
    ),
    (
        "popular pool",
        (
            {"candidates.popular": 0, "ranking.w_views": 0.3},
            {"candidates.popular": 100, "ranking.w_views": 1.0},
        ),
    ),
    ("channel cap", tuple({"ranking.max_per_channel": k} for k in (2, 4, 0))),
    ("list length", tuple({"related.top_n": k} for k in (25, 50, 100))),
    ("depth", tuple({"candidates.depth": k} for k in (1, 2))),
    ("edges per hop", tuple({"candidates.per_hop": k} for k in (10, 20, 30))),
    ("session window", tuple({"sessions.window_hours": k} for k in (24.0, 72.0))),
    ("seeds", tuple({"seeds.max_seeds": k} for k in (50, 100, 200))),
    ("recency", tuple({"seeds.half_life_days": k} for k in (0.0, 30.0, 120.0))),
    ("evidence", tuple({"related.min_count": k} for k in (1, 2, 3))),
    ("rating threshold", tuple({"seeds.rating_threshold": k} for k in (0.5, 3.0, 4.0))),
    (
        "seed weights",  # how much a plain watch counts against a long one
        (
            {"seeds.weight_watch": 0.5, "seeds.weight_long_watch": 1.5},
            {"seeds.weight_watch": 1.0, "seeds.weight_long_watch": 1.0},
            {"seeds.weight_watch": 0.25, "seeds.weight_long_watch": 2.0},
        ),
    ),
)
WEIGHT_KEYS = tuple(f"ranking.w_{s}" for s in SIGNALS)


# ------------------------------------------------------------------------------ learned weights


def fit_weights(
    signals: np.ndarray, labels: np.ndarray, *, l2: float = 1e-3, max_iter: int = 500
) -> np.ndarray:
    """Non-negative weights of a logistic model P(watch) = sigmoid(b + signals @ w), w >= 0.

    Mean log loss plus ``l2 * |w|^2``, minimised by L-BFGS-B with bounds (the intercept b is
    free and dropped: ranking within a user does not see it). Non-negative weights keep every
    pick explained by its signals: each one counts for a video, never against it. Returns w of
    shape (signals,), scaled so the largest weight is 1 (all zeros when nothing is learned).
    """
    x = np.asarray(signals, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y):
        raise InputError("fit_weights: signals must be (rows, k) and labels (rows,)")
    k = x.shape[1]
    if len(y) == 0 or y.min() == y.max():
        return np.zeros(k)
    m = len(y)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k], theta[k]
        z = x @ w + b
        # log(1 + e^z) - y z, stably; its gradient is sigmoid(z) - y
        value = float(np.mean(np.logaddexp(0.0, z) - y * z)) + l2 * float(w @ w)
        r = (1.0 / (1.0 + np.exp(-z)) - y) / m
        grad = np.concatenate([x.T @ r + 2.0 * l2 * w, [r.sum()]])
        return value, grad

    p = y.mean()
    start = np.concatenate([np.full(k, 0.1), [math.log(p / (1.0 - p))]])
    bounds = [(0.0, None)] * k + [(None, None)]
    result = minimize(
        loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter}
    )
    w = np.maximum(result.x[:k], 0.0)
    top = float(w.max())
    return w / top if top > 0 else w


@dataclass
class Examples:
    """The candidates the expansion found for some users: signals, watched or not, whose."""

    signals: np.ndarray  # (rows, SIGNALS)
    labels: np.ndarray  # (rows,) 1.0 if the user went on to watch the candidate
    groups: np.ndarray  # (rows,) the user's index, rows of a user together
    relevant: np.ndarray  # (users,) how many videos each user went on to watch


def ranker_examples(
    graph: MemoryGraph, truth: Mapping[str, set[str]], settings: Settings, users: Sequence[str]
) -> Examples:
    """Every candidate the expansion finds for ``users``: its signals, and 1 if the user went on
    to watch it (``truth``), else 0."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    gs: list[np.ndarray] = []
    relevant: list[int] = []
    for user in users:
        rec: Recommendations = recommend(graph, user, settings, allow_unknown=True)
        if rec.ranked is None or not len(rec.ranked.scored):
            continue
        scored = rec.ranked.scored
        wanted = truth.get(user, set())
        xs.append(scored.signals)
        ys.append(np.array([v in wanted for v in scored.video_ids], dtype=np.float64))
        gs.append(np.full(len(scored.video_ids), len(relevant)))
        relevant.append(len(wanted))
    if not xs:
        empty = np.zeros(0)
        return Examples(np.zeros((0, len(SIGNALS))), empty, empty.astype(int), empty)
    return Examples(
        np.vstack(xs), np.concatenate(ys), np.concatenate(gs), np.array(relevant, dtype=float)
    )


def mean_ndcg(ex: Examples, w: np.ndarray, n: int) -> float:
    """Mean nDCG@n over the users of ``ex`` when each ranks its candidates by ``signals @ w``
    (ties by row order; the diversity caps are left out: this is what the weights move)."""
    if not len(ex.relevant):
        return 0.0
    score = ex.signals @ w
    # Sort by user, then score descending: one lexsort, then each user's first n rows.
    order = np.lexsort((-score, ex.groups))
    g = ex.groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    pos = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    top = pos < n
    gain = ex.labels[order][top] / np.log2(pos[top] + 2.0)
    dcg = np.bincount(g[top], weights=gain, minlength=len(ex.relevant))
    ideal_k = np.minimum(ex.relevant, n).astype(int)
    discounts = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(n) + 2.0))]
    ideal = discounts[ideal_k]
    ok = ideal > 0
    return float(np.mean(np.where(ok, dcg / np.where(ok, ideal, 1.0), 0.0)))


def refine_weights(ex: Examples, w0: np.ndarray, n: int, rounds: int = 4) -> np.ndarray:
    """Coordinate ascent on ``mean_ndcg``: each weight in turn tries a few multiples of itself
    (and 0 and 1), keeping a change only when it raises the metric. Deterministic."""
    w = np.maximum(np.asarray(w0, dtype=np.float64), 0.0)
    best = mean_ndcg(ex, w, n)
    for _ in range(rounds):
        improved = False
        for k in range(len(w)):
            for value in sorted({0.0, 1.0, w[k] * 0.25, w[k] * 0.5, w[k] * 2.0, w[k] * 4.0}):
                if value == w[k]:
                    continue
                trial = w.copy()
                trial[k] = value
                got = mean_ndcg(ex, trial, n)
                if got > best + 1e-12:
                    best, w, improved = got, trial, True
        if not improved:
            break
    top = float(w.max())
    return w / top if top > 0 else w


def weight_overrides(w: np.ndarray) -> dict[str, float]:
    """Learned weights as ``ranking.w_*`` overrides (rounded: a config file people read)."""
    return {key: round(float(v), 4) for key, v in zip(WEIGHT_KEYS, w, strict=True)}


# ------------------------------------------------------------------------------------- the search


@dataclass
class Trial:
    """One configuration measured on the validation split."""

    stage: str
    option: dict[str, Any]  # what this trial changed
    overrides: dict[str, Any]  # everything over the settings tune started from
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float] | None]


@dataclass
class TuneResult:
    """What ``tune`` chose, every trial, and the test figures of the choice and of the start."""

    protocol: str
    seed: int
    metric: str
    n: int
    chosen: dict[str, Any]  # overrides over the starting settings
    settings: Settings  # the starting settings with ``chosen`` applied
    trials: list[Trial]
    validation: dict[str, Any]  # the split's summary
    learned: dict[str, float] | None  # the learned weights, when they were kept
    test: EvalReport | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def best(self) -> Trial:
        return max(self.trials, key=lambda t: t.metrics[self.metric])

    def to_toml(self, header: str = "") -> str:
        """A config file holding the chosen settings that differ from the defaults."""
        values = self.settings.overrides()
        values = {k: v for k, v in values.items() if not k.startswith("neo4j.")}
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        if self.settings.profile != "default":
            lines.append(f'profile = "{self.settings.profile}"')
        sections: dict[str, list[str]] = {}
        for dotted, value in sorted(values.items()):
            section, key = dotted.split(".", 1)
            sections.setdefault(section, []).append(f"{key} = {_toml_value(value)}")
        for section, rows in sections.items():
            lines += ["", f"[{section}]", *rows]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            "metric": self.metric,
            "n": self.n,
            "chosen": self.chosen,
            "learned_weights": self.learned,
            "validation_split": self.validation,
            "trials": [
                {
                    "stage": t.stage,
                    "option": t.option,
                    "overrides": t.overrides,
                    "metrics": t.metrics,
                    "ci95": {k: list(v) if v else None for k, v in t.ci.items()},
                }
                for t in self.trials
            ],
            "test": self.test.to_json() if self.test else None,
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
        }

    def table(self) -> str:
        """The trials on validation, the choice, and the test figures."""
        head = f"{'trial':<44} {'P@' + str(self.n):>7} {'HR@' + str(self.n):>7} {'nDCG':>7}"
        out = [f"validation ({self.protocol}, seed {self.seed}; chosen by {self.metric})", head]
        best = self.best()
        for t in self.trials:
            label = t.stage + ": " + (_short(t.option) or "as given")
            if t.stage == "learned weights":
                label = "learned weights"
            mark = " *" if t is best else ""
            m = t.metrics
            out.append(
                f"{label[:44]:<44} {m['precision']:>7.3f} {m['hit_rate']:>7.3f} "
                f"{m['ndcg']:>7.3f}{mark}"
            )
        out.append("")
        out.append("chosen: " + (_short(self.chosen) or "the settings as given"))
        chosen = next((t for t in self.trials if t.overrides == self.chosen), best)
        out.append(
            "validation, 95% CI: "
            + ", ".join(
                f"{k} {chosen.metrics[k]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
                for k in ("precision", "hit_rate", "ndcg")
                if (ci := chosen.ci.get(k)) is not None
            )
        )
        out += [f"note: {x}" for x in self.notes]
        if self.test is not None:
            out += ["", f"test ({self.protocol}):", self.test.table()]
        return "\n".join(out)


def _short(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in overrides.items())


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def tune(
    dataset: Dataset,
    settings: Settings,
    *,
    protocol: str = "temporal",
    n: int = 10,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    metric: str = "ndcg",
    learn: bool = True,
    max_users: int | None = None,
    test_engine: str = "memory",
    measure_test: bool = True,
    resamples: int = 200,
    echo: Echo | None = None,
) -> TuneResult:
    """Search settings on a validation split of the training part; see the module doc."""
    t0 = time.perf_counter()
    say: Echo = echo or (lambda _m: None)
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if budget < 1:
        raise InputError(f"budget must be at least 1 trial, not {budget}")
    outer = split_events(dataset.events, protocol, seed=seed)
    # From here on, only the training part: the search never sees a test event.
    known = Dataset(events=outer.train, videos=dataset.videos, report=dataset.report)
    inner = split_events(known.events, protocol, seed=seed)
    say(
        f"ytgraph: tune: {len(outer.train):,} training events; validation: "
        f"{len(inner.train):,} fit events, {len(inner.users):,} validation users"
    )

    trials: list[Trial] = []
    chosen: dict[str, Any] = {}
    # Fit-part graphs by counting fingerprint: a stage that changes only seeds, candidates or
    # ranking recommends from the graph an earlier stage built.
    graphs: dict[str, MemoryGraph] = {}

    def measure(stage: str, options: Sequence[dict[str, Any]]) -> list[Trial]:
        variants = [
            Variant(f"{stage} {i}", {**chosen, **o}) for i, o in enumerate(options, start=1)
        ]
        report = evaluate(
            known, settings, protocol=protocol, n=n, variants=variants,
            baselines=("most-viewed",), seed=seed, max_users=max_users,
            resamples=resamples, engine="memory", memory_graphs=graphs, echo=None,
        )  # fmt: skip
        out = []
        for v, o in zip(variants, options, strict=True):
            r: SystemResult = report.system(v.name)
            metrics = {k: float(r.metrics[k] or 0.0) for k in METRICS}
            ci = {k: r.ci.get(k) for k in METRICS}
            out.append(Trial(stage, dict(o), {**chosen, **o}, metrics, ci))
        trials.extend(out)
        for t in out:
            say(f"ytgraph: tune: {stage}: {_short(t.option) or 'as given'}: "
                f"{metric} {t.metrics[metric]:.4f}")  # fmt: skip
        return out

    (current,) = measure("start", [{}])
    for stage, options in SPACE:
        now = settings.with_overrides(chosen)
        todo = [o for o in options if now.with_overrides(o) != now]
        room = budget - len(trials) - (1 if learn else 0)
        if room <= 0:
            break
        got = measure(stage, todo[:room])
        best = max(got, key=lambda t: t.metrics[metric], default=None)
        if best is not None and best.metrics[metric] > current.metrics[metric]:
            current = best
            chosen = dict(best.overrides)

    learned: dict[str, float] | None = None
    notes: list[str] = []
    if learn and len(trials) < budget:
        base = settings.with_overrides(chosen)
        graph = graphs.get(fingerprint(base)) or MemoryGraph.build(
            training_dataset(inner, dataset.videos), base
        )
        users = sample_users(inner.users, max_users, seed)
        ex = ranker_examples(graph, inner.truth_sets(), base, users)
        # A logistic fit finds the direction; coordinate ascent then tunes it for the ranking.
        w = refine_weights(ex, fit_weights(ex.signals, ex.labels), n)
        say(
            f"ytgraph: tune: learned weights from {len(ex.labels):,} candidates "
            f"({int(ex.labels.sum()):,} watched)"
        )
        if w.any():
            (trial,) = measure("learned weights", [weight_overrides(w)])
            if trial.metrics[metric] > current.metrics[metric]:
                current = trial
                chosen = dict(trial.overrides)
                learned = weight_overrides(w)
            else:
                notes.append("learned weights did not beat the hand-set ones on validation")
        else:
            notes.append("no weights learned: no validation user watched a candidate")

    final = settings.with_overrides(chosen)
    result = TuneResult(
        protocol=protocol,
        seed=seed,
        metric=metric,
        n=n,
        chosen=chosen,
        settings=final,
        trials=trials,
        validation=inner.summary(),
        learned=learned,
        notes=notes,
    )
    if measure_test:
        say("ytgraph: tune: measuring the choice on the test part")
        result.test = evaluate(
            dataset, settings, protocol=protocol, n=n,
            variants=[Variant("start"), Variant("tuned", chosen)], seed=seed,
            max_users=max_users, resamples=resamples, engine=test_engine, echo=say,
        )  # fmt: skip
    result.seconds = time.perf_counter() - t0
    return result
