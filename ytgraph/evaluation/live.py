"""Live evaluation (paper section 4): per arm and day, CTR, long CTR, session length, time to the
first long watch and coverage, relative to a control arm with bootstrap intervals.

The input is canonical events, as logged (``ytgraph serve``'s ImpressionRecorder, or ``ytgraph
simulate``): ``impression`` rows name the arm; ``click`` and ``watch`` rows follow. The rules:

* a **click** belongs to the latest impression of the same user and video at or before it, within
  the session window (``[sessions] window_hours``, 24 h); an impression counts one click at most,
  and a click with no such impression is left out (counted as ``unattributed_clicks``);
* a **long click** is a click followed, within the window, by a long watch of that video by that
  user (a long watch by the loader's rule: ``ingest.load.long_watches``, which needs the videos'
  durations, else two minutes);
* a **visit** is one (user, timestamp) of impressions; its session holds the user's watches from
  it until the user's next visit or the end of the window. **Session length** is the mean number of
  watches per visit; **time to first long watch** the mean seconds from a visit to its first long
  watch, over the visits that have one;
* **coverage** is the share of the arm's users (every user with an impression in the arm) who got
  impressions that day: the share of the arm's audience reached;
* **CTR** = attributed clicks / impressions, **long CTR** = long clicks / impressions; the day of an
  impression (UTC) is the day its clicks count for.

Intervals are 95% percentile bootstraps over users (``metrics.bootstrap_means``: the users of each
arm drawn with replacement, arms independently), for each figure and for its ratio to the
control's (in %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loaders.schema import DAY, Dataset
from ytgraph.config import Settings
from ytgraph.errors import InputError
from ytgraph.evaluation.metrics import bootstrap_means
from ytgraph.ingest.load import long_watches, video_durations

# Per-user sums the figures are ratios of: (numerator, denominator) by figure.
COLUMNS = ("impressions", "clicks", "long_clicks", "visits", "watches", "ttlw_sum", "ttlw_n")
FIGURES = {
    "ctr": ("clicks", "impressions"),
    "long_ctr": ("long_clicks", "impressions"),
    "session_length": ("watches", "visits"),
    "time_to_long_watch": ("ttlw_sum", "ttlw_n"),
}
LABELS = {
    "ctr": "CTR",
    "long_ctr": "long CTR",
    "session_length": "session",
    "time_to_long_watch": "t->long (s)",
    "coverage": "coverage",
}


@dataclass
class ArmDay:
    """One arm's figures on one day (``day`` None: all days): counts, figures, 95% intervals,
    and each figure as % of the control's with its interval."""

    arm: str
    day: str | None
    users: int
    counts: dict[str, float]
    figures: dict[str, float | None]
    ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    relative: dict[str, float | None] = field(default_factory=dict)
    relative_ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "day": self.day,
            "users": self.users,
            "counts": {k: int(v) if k != "ttlw_sum" else float(v) for k, v in self.counts.items()},
            "figures": self.figures,
            "ci95": {k: list(v) if v else None for k, v in self.ci.items()},
            "relative_to_control_pct": self.relative,
            "relative_ci95": {k: list(v) if v else None for k, v in self.relative_ci.items()},
        }


@dataclass
class LiveReport:
    """Every arm's figures per day and overall; ``table()``, ``to_json()``, ``plot(path)``."""

    control: str
    arms: list[str]
    days: list[str]
    overall: list[ArmDay]
    by_day: list[ArmDay]
    unattributed_clicks: int = 0
    rejected_rows: int = 0
    resamples: int = 1000
    notes: list[str] = field(default_factory=list)

    def row(self, arm: str, day: str | None = None) -> ArmDay:
        rows = self.overall if day is None else self.by_day
        for r in rows:
            if r.arm == arm and r.day == day:
                return r
        raise KeyError((arm, day))

    def table(self) -> str:
        """The overall figures per arm, then relative CTR per day (% of the control)."""
        head = (
            f"{'arm':<16}{'users':>7}{'impr.':>9}{'CTR':>8}{'long CTR':>9}{'session':>8}"
            f"{'t->long':>8}{'cover':>7}  CTR vs {self.control} (95% CI)"
        )
        lines = [head, "-" * len(head)]
        for r in self.overall:
            f = r.figures
            rel = _pct(r.relative.get("ctr"), r.relative_ci.get("ctr"))
            lines.append(
                f"{r.arm:<16}{r.users:>7,}{int(r.counts['impressions']):>9,}"
                f"{_num(f['ctr'], 100, '%'):>8}{_num(f['long_ctr'], 100, '%'):>9}"
                f"{_num(f['session_length']):>8}{_num(f['time_to_long_watch'], 1, 's', 0):>8}"
                f"{_num(f['coverage'], 100, '%', 0):>7}  {rel}"
            )
        lines += ["", f"CTR per day, % of {self.control}:"]
        lines.append(f"{'day':<12}" + "".join(f"{a[:14]:>15}" for a in self.arms))
        for d in self.days:
            cells = []
            for a in self.arms:
                try:
                    cells.append(_num(self.row(a, d).relative.get("ctr"), 1, "%", 0))
                except KeyError:
                    cells.append("-")
            lines.append(f"{d:<12}" + "".join(f"{c:>15}" for c in cells))
        if self.unattributed_clicks:
            lines.append(f"\n{self.unattributed_clicks:,} clicks had no impression to belong to")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "arms": self.arms,
            "days": self.days,
            "resamples": self.resamples,
            "unattributed_clicks": self.unattributed_clicks,
            "rejected_rows": self.rejected_rows,
            "overall": [r.to_json() for r in self.overall],
            "by_day": [r.to_json() for r in self.by_day],
            "notes": self.notes,
        }

    def plot(self, path: str | Path) -> Path:
        """A PNG like the paper's figure 2: each arm's CTR per day as % of the control's."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(10, 5.5))
        x = np.arange(1, len(self.days) + 1)
        cycle = plt.get_cmap("tab10")
        for i, arm in enumerate(self.arms):
            rows = [self._get(arm, d) for d in self.days]
            y = [np.nan if r is None else _nan(r.relative.get("ctr")) for r in rows]
            bands = [None if r is None else r.relative_ci.get("ctr") for r in rows]
            lo = [np.nan if b is None else b[0] for b in bands]
            hi = [np.nan if b is None else b[1] for b in bands]
            style = ":" if arm == self.control else "-"
            ax.plot(x, y, style, marker="o", ms=3, color=cycle(i % 10), label=arm)
            if arm != self.control:
                ax.fill_between(x, lo, hi, color=cycle(i % 10), alpha=0.15)
        ax.set_xlabel("day")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # days are whole
        ax.set_ylabel(f"CTR, % of {self.control}")
        ax.set_title("Click-through rate per day relative to the control (95% bootstrap bands)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out

    def _get(self, arm: str, day: str) -> ArmDay | None:
        try:
            return self.row(arm, day)
        except KeyError:
            return None


def _nan(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _num(v: float | None, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v * scale:.{digits}f}{unit}"


def _pct(v: float | None, ci: tuple[float, float] | None) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.0f}%" + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else "")


# ------------------------------------------------------------------------------ the arithmetic


def per_user_day(events: pd.DataFrame, durations: pd.Series, settings: Settings) -> pd.DataFrame:
    """One row per (arm, day, user): the ``COLUMNS`` sums of the rules in the module doc, and
    ``unattributed`` clicks in ``attrs``."""
    window = int(settings.sessions.window_hours * 3600)
    ev = events.reset_index(drop=True)
    imp = ev[ev["event"] == "impression"]
    if imp.empty:
        raise InputError("abtest report: the logs hold no impression rows")
    imp = pd.DataFrame(
        {
            "user_id": imp["user_id"].astype(str).to_numpy(),
            "video_id": imp["video_id"].astype(str).to_numpy(),
            "timestamp": imp["timestamp"].astype("int64").to_numpy(),
            "arm": imp["arm"].astype(str).to_numpy(),
        }
    )
    imp["imp_id"] = np.arange(len(imp))
    imp["day"] = imp["timestamp"] // DAY
    watches = ev[ev["event"] == "watch"].copy()
    watches["long"] = long_watches(watches, durations, settings) if len(watches) else []
    long_w = watches.loc[watches["long"].astype(bool), ["user_id", "video_id", "timestamp"]]
    long_w = long_w.astype({"user_id": str, "video_id": str, "timestamp": "int64"})

    # Clicks -> the latest impression of (user, video) within the window; one click per impression.
    clicks = ev.loc[ev["event"] == "click", ["user_id", "video_id", "timestamp"]]
    clicks = clicks.astype({"user_id": str, "video_id": str, "timestamp": "int64"})
    matched = pd.merge_asof(
        clicks.sort_values("timestamp", kind="stable"),
        imp[["user_id", "video_id", "timestamp", "imp_id"]]
        .rename(columns={"timestamp": "shown_at"})
        .sort_values("shown_at", kind="stable"),
        left_on="timestamp", right_on="shown_at", by=["user_id", "video_id"],
        direction="backward", tolerance=window,
    )  # fmt: skip
    unattributed = int(matched["imp_id"].isna().sum())
    matched = matched.dropna(subset=["imp_id"]).astype({"imp_id": "int64"})
    matched = matched.sort_values("timestamp", kind="stable").drop_duplicates("imp_id")
    # A long click: a long watch of (user, video) at or after the click, within the window.
    longs = pd.merge_asof(
        matched.sort_values("timestamp", kind="stable"),
        long_w.rename(columns={"timestamp": "long_at"}).sort_values("long_at", kind="stable"),
        left_on="timestamp", right_on="long_at", by=["user_id", "video_id"],
        direction="forward", tolerance=window,
    )  # fmt: skip
    imp["clicks"] = 0
    imp.loc[imp["imp_id"].isin(matched["imp_id"]), "clicks"] = 1
    imp["long_clicks"] = 0
    imp.loc[imp["imp_id"].isin(longs.dropna(subset=["long_at"])["imp_id"]), "long_clicks"] = 1

    # Visits and their sessions: each watch belongs to the user's latest visit before it (the
    # next visit ends a session), within the window.
    visits = imp.drop_duplicates(["user_id", "timestamp"])[["user_id", "timestamp", "arm", "day"]]
    visits = visits.reset_index(drop=True)
    visits["visit_id"] = np.arange(len(visits))
    w = watches[["user_id", "timestamp", "long"]].astype({"user_id": str, "timestamp": "int64"})
    owned = pd.merge_asof(
        w.sort_values("timestamp", kind="stable"),
        visits[["user_id", "timestamp", "visit_id"]]
        .rename(columns={"timestamp": "visit_at"})
        .sort_values("visit_at", kind="stable"),
        left_on="timestamp", right_on="visit_at", by="user_id",
        direction="backward", tolerance=window,
    ).dropna(subset=["visit_id"])  # fmt: skip
    owned = owned.astype({"visit_id": "int64"})
    per_visit_watches = owned.groupby("visit_id").size()
    long_owned = owned[owned["long"].astype(bool)]
    first_long = (
        (long_owned["timestamp"] - long_owned["visit_at"]).groupby(long_owned["visit_id"]).min()
    )
    visits["visits"] = 1
    visits["watches"] = visits["visit_id"].map(per_visit_watches).fillna(0).to_numpy()
    visits["ttlw_sum"] = visits["visit_id"].map(first_long).fillna(0).to_numpy(dtype="float64")
    visits["ttlw_n"] = visits["visit_id"].isin(first_long.index).astype(int)

    keys = ["arm", "day", "user_id"]
    a = imp.groupby(keys).agg(
        impressions=("imp_id", "size"), clicks=("clicks", "sum"), long_clicks=("long_clicks", "sum")
    )
    b = visits.groupby(keys)[["visits", "watches", "ttlw_sum", "ttlw_n"]].sum()
    out = a.join(b, how="outer").fillna(0).reset_index()
    out.attrs["unattributed"] = unattributed
    return out


def _figures(sums: np.ndarray) -> dict[str, float | None]:
    """Each figure of ``FIGURES`` from column sums (None where the denominator is 0)."""
    out: dict[str, float | None] = {}
    for name, (num, den) in FIGURES.items():
        d = sums[COLUMNS.index(den)]
        out[name] = float(sums[COLUMNS.index(num)] / d) if d > 0 else None
    return out


def _resampled(matrix: np.ndarray, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Each figure over ``resamples`` bootstrap draws of the users (rows of ``matrix``)."""
    means = bootstrap_means(matrix, resamples=resamples, seed=seed)
    out = {}
    with np.errstate(all="ignore"):
        for name, (num, den) in FIGURES.items():
            d = means[:, COLUMNS.index(den)]
            out[name] = np.where(d > 0, means[:, COLUMNS.index(num)] / d, np.nan)
    return out


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    v = values[np.isfinite(values)]
    if v.size < max(10, values.size // 2):
        return None
    return float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))


def _arm_day(
    arm: str, day: str | None, rows: pd.DataFrame, audience: int, resamples: int, seed: int
) -> tuple[ArmDay, dict[str, np.ndarray]]:
    matrix = rows[list(COLUMNS)].to_numpy(dtype="float64")
    sums = matrix.sum(axis=0)
    figures = _figures(sums)
    users = int(rows["user_id"].nunique())
    figures["coverage"] = users / audience if audience else None
    draws = _resampled(matrix, resamples, seed)
    result = ArmDay(
        arm=arm,
        day=day,
        users=users,
        counts={c: float(s) for c, s in zip(COLUMNS, sums, strict=True)},
        figures=figures,
        ci={k: _interval(v) for k, v in draws.items()},
    )
    return result, draws


def _relate(row: ArmDay, draws: dict[str, np.ndarray], ctl: ArmDay, ctl_draws: Any) -> None:
    """Set ``row``'s figures as % of the control's, with bootstrap intervals of the ratio."""
    for name in (*FIGURES, "coverage"):
        mine, theirs = row.figures.get(name), ctl.figures.get(name)
        row.relative[name] = 100.0 * mine / theirs if mine is not None and theirs else None
        if name in draws:
            with np.errstate(all="ignore"):
                ratio = 100.0 * draws[name] / ctl_draws[name]
            row.relative_ci[name] = _interval(ratio) if row.relative[name] is not None else None


def live_report(
    events: pd.DataFrame,
    settings: Settings,
    *,
    videos: pd.DataFrame | None = None,
    control: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> LiveReport:
    """The figures of the module doc from canonical ``events`` (impressions, clicks, watches);
    ``videos`` gives durations for the long-watch rule; ``control`` defaults to the arm with the
    most users."""
    if resamples < 1:
        raise InputError("abtest report: resamples must be at least 1")
    durations = video_durations(videos) if videos is not None else pd.Series(dtype="float64")
    table = per_user_day(events, durations, settings)
    arm_users = table.groupby("arm")["user_id"].nunique().sort_values(ascending=False)
    arms = sorted(arm_users.index.astype(str), key=lambda a: (a != control, -arm_users[a], a))
    ctl = control if control is not None else arms[0]
    if ctl not in arm_users.index:
        raise InputError(f"abtest report: no arm {ctl!r} in the logs (arms: {', '.join(arms)})")
    arms = [ctl, *[a for a in arms if a != ctl]]
    day_ids = sorted(int(d) for d in table["day"].unique())
    labels = {d: pd.Timestamp(d * DAY, unit="s").strftime("%Y-%m-%d") for d in day_ids}

    # Overall: one row per user of the arm (summed over days); then each day.
    overall: list[ArmDay] = []
    by_day: list[ArmDay] = []
    for scope in [None, *day_ids]:
        results: dict[str, tuple[ArmDay, dict[str, np.ndarray]]] = {}
        for k, arm in enumerate(arms):
            rows = table[table["arm"] == arm]
            if scope is not None:
                rows = rows[rows["day"] == scope]
            if rows.empty:
                continue
            rows = rows.groupby("user_id", as_index=False)[list(COLUMNS)].sum()
            label = None if scope is None else labels[scope]
            part_seed = seed * 1_000_003 + k * 7919 + (0 if scope is None else scope % 100_003)
            results[arm] = _arm_day(arm, label, rows, int(arm_users[arm]), resamples, part_seed)
        if ctl in results:
            c_row, c_draws = results[ctl]
            for row, draws in results.values():
                _relate(row, draws, c_row, c_draws)
        (overall if scope is None else by_day).extend(r for r, _ in results.values())
    notes = []
    if videos is None or videos.empty:
        notes.append(
            "no video durations given (--videos): a long watch is one of 2 minutes or more"
        )
    return LiveReport(
        control=ctl,
        arms=arms,
        days=[labels[d] for d in day_ids],
        overall=overall,
        by_day=by_day,
        unattributed_clicks=int(table.attrs.get("unattributed", 0)),
        resamples=resamples,
        notes=notes,
    )


def read_logs(paths: Sequence[str | Path], videos: str | Path | None = None) -> Dataset:
    """Canonical event logs (and a videos file, for durations), leniently: bad rows are counted."""
    from loaders.canonical import read_canonical

    if not paths:
        raise InputError("abtest report: give at least one log file")
    return read_canonical([str(p) for p in paths], str(videos) if videos else None)


def abtest_report(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    videos: str | Path | None = None,
    control: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> LiveReport:
    """``live_report`` of log files: what ``ytgraph abtest report`` prints."""
    data = read_logs(paths, videos)
    report = live_report(
        data.events,
        settings,
        videos=data.videos if videos else None,
        control=control,
        resamples=resamples,
        seed=seed,
    )
    report.rejected_rows = data.report.rejected
    if data.report.rejected:
        report.notes.append(f"{data.report.rejected:,} log rows were rejected and left out")
    return report
