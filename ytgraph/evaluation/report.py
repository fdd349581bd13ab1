"""One split's results: every system's figures with intervals, relative to Most Viewed; table, JSON, plot."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = "Most Viewed"


@dataclass
class SystemResult:
    """One system's figures: point estimates, 95% intervals, the same relative to Most Viewed."""

    name: str
    kind: str  # "ytgraph", "baseline" or "peer"
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float] | None]
    relative: dict[str, float | None] = field(default_factory=dict)  # % of Most Viewed
    relative_ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    note: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failed_users: int = 0
    by_period: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "metrics": self.metrics,
            "ci95": {k: list(v) if v else None for k, v in self.ci.items()},
            "relative_to_most_viewed_pct": self.relative,
            "relative_ci95": {k: list(v) if v else None for k, v in self.relative_ci.items()},
            "note": self.note,
            "overrides": self.overrides,
            "seconds": round(self.seconds, 3),
            "failed_users": self.failed_users,
            "by_period": self.by_period,
        }


@dataclass
class EvalReport:
    """Every system's figures for one split; ``table()``, ``to_json()``, ``plot(path)``."""

    protocol: str
    n: int
    seed: int
    split: dict[str, Any]
    systems: list[SystemResult]
    loads: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    period_days: int | None = None
    resamples: int = 1000
    seconds: float = 0.0

    def system(self, name: str) -> SystemResult:
        for s in self.systems:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "n": self.n,
            "seed": self.seed,
            "split": self.split,
            "resamples": self.resamples,
            "period_days": self.period_days,
            "systems": [s.to_json() for s in self.systems],
            "loads": self.loads,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }

    def table(self) -> str:
        """The figures as a text table, one row per system."""
        n = self.n
        sp = self.split
        head = (
            f"protocol {self.protocol} (test {sp['test_fraction']:.0%}, seed {self.seed}): "
            f"{sp['train_events']:,} training events, {sp['test_users']:,} test users, "
            f"{sp['truth_pairs']:,} test videos, catalogue {sp['catalog']:,}; n = {n}; "
            f"95% bootstrap CI over users ({self.resamples} resamples)"
        )
        cols = [
            ("system", 24), (f"HR@{n}", 20), (f"P@{n}", 20), (f"R@{n}", 8), (f"nDCG@{n}", 8),
            ("users%", 7), ("catal%", 7), ("ch/list", 7), ("cat/list", 8), ("P vs MV", 8),
            ("HR vs MV", 8),
        ]  # fmt: skip
        lines = [head, "  ".join(f"{c:<{w}}" for c, w in cols)]

        def num(x: float | None, fmt: str = ".3f") -> str:
            return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:{fmt}}"

        def with_ci(s: SystemResult, k: str) -> str:
            ci = s.ci.get(k)
            base = num(s.metrics.get(k))
            return base if not ci else f"{base} [{ci[0]:.3f},{ci[1]:.3f}]"

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.0f}%"

        for s in self.systems:
            m = s.metrics
            cells = [
                s.name[:24], with_ci(s, "hit_rate"), with_ci(s, "precision"), num(m.get("recall")),
                num(m.get("ndcg")), num(_x100(m.get("user_coverage")), ".1f"),
                num(_x100(m.get("catalog_coverage")), ".1f"), num(m.get("channels"), ".2f"),
                num(m.get("categories"), ".2f"), pct(s.relative.get("precision")),
                pct(s.relative.get("hit_rate")),
            ]  # fmt: skip
            lines.append("  ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, cols, strict=True)))
        notes = [f"{s.name}: {s.note}" for s in self.systems if s.note] + self.notes
        lines += [f"  note: {x}" for x in notes]
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """A PNG of the metrics by system (with 95% intervals), and by test period if temporal."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        panels = ["precision", "hit_rate", "recall", "ndcg", "user_coverage"]
        names = [s.name for s in self.systems]
        colors = [
            {"ytgraph": "tab:blue", "baseline": "tab:gray", "peer": "tab:orange"}[s.kind]
            for s in self.systems
        ]
        fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
        flat = list(axes.flat)
        for ax, metric in zip(flat, panels, strict=False):
            vals = [s.metrics.get(metric) or 0.0 for s in self.systems]
            lo = [
                (v - s.ci[metric][0]) if s.ci.get(metric) else 0.0  # type: ignore[index]
                for v, s in zip(vals, self.systems, strict=True)
            ]
            hi = [
                (s.ci[metric][1] - v) if s.ci.get(metric) else 0.0  # type: ignore[index]
                for v, s in zip(vals, self.systems, strict=True)
            ]
            y = np.arange(len(names))
            ax.barh(y, vals, xerr=[lo, hi], color=colors, capsize=2)
            ax.set_yticks(y, names, fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{metric.replace('_', ' ')} @ {self.n}", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        ax = flat[5]
        if self.period_days and any(s.by_period for s in self.systems):
            cycle = plt.get_cmap("tab10")
            styles = {"ytgraph": "-", "peer": "--", "baseline": ":"}
            for i, s in enumerate(self.systems):
                if not s.by_period:
                    continue
                xs = [p["period"] for p in s.by_period]
                ys = [p["hit_rate"] for p in s.by_period]
                ax.plot(xs, ys, styles[s.kind], marker="o", ms=3, color=cycle(i % 10), label=s.name)
            users = [p["users"] for p in self.systems[0].by_period]
            ax.set_xlabel(
                f"periods of {self.period_days} day(s) after the cut; users: "
                + ",".join(map(str, users)),
                fontsize=8,
            )
            ax.set_title(f"hit rate @ {self.n} by test period (cf. paper fig. 2)", fontsize=10)
            ax.legend(fontsize=6)
            ax.grid(alpha=0.3)
        else:
            rel = [s.relative.get("precision") or 0.0 for s in self.systems]
            y = np.arange(len(names))
            ax.barh(y, rel, color=colors)
            ax.axvline(100, color="k", lw=0.8)
            ax.set_yticks(y, names, fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"precision @ {self.n}, % of Most Viewed", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        sp = self.split
        fig.suptitle(
            f"ytgraph offline evaluation: {self.protocol} split, {sp['test_users']} test users, "
            f"n = {self.n} (blue: ytgraph, orange: SAR, gray: baselines)",
            fontsize=11,
        )
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out


def _x100(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else 100.0 * x
