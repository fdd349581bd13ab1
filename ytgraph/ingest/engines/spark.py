"""The counting as Spark jobs: sessions, c_i/c_ij and R_i with the PySpark DataFrame API.

The same tables as the in-process engine (``ingest.sessions``, ``ingest.covisit``,
``ingest.related``), computed with Spark SQL expressions only (no Python UDF), rule for rule:

- **Sessions.** Watches (``event == 'watch'``) pass the long-watch filter (a NaN or missing length,
  or an unknown duration, passes). One shuffle gathers each user's watches into an array sorted by
  (time, video); its distinct times are folded by a SQL ``aggregate`` into the anchored session
  starts: a time opens a session when it is at least the window after the last start
  (``t - start >= W``, W whole seconds as ``sessions.window_seconds``). A watch belongs to the last
  session started at or before it; sessions are numbered 0..S-1 by user id (string order: UTF-8
  bytes sort as code points, as Python's ``str``), then start. A video counts once per session, at
  its first watch; a session keeps its first ``max_videos`` videos by (first watch, video id).
- **Counts.** c_i = the sessions holding video i; c_ij = a self-join of the (session, video) rows on
  the session (the off-diagonal of XᵀX), each unordered pair counted once (i < j) and mirrored where
  both directions are needed; N = the number of sessions.
- **R_i.** r(i, j) = c_ij / f(i, j) as the same float operations in the same order as
  ``related.scores`` (integer products first, one rounding at the division), so scores are
  bit-identical. ``llr`` needs x ln x: Spark's ``ln`` is fdlibm's (``StrictMath``) and differs from
  numpy's in the last bit for ~1% of integers, which could reorder near-ties; so the x ln x values
  come from a small table numpy computes (x in 0..max c_i and N - 2 max c_i..N, the only arguments
  the 2x2 table can take), joined in, and the entropy sum is added in the reference's order. Lists:
  ``c_ij >= min_count``, ``score > 0`` and ``>= min_score``, the best ``top_n`` by score, then larger
  c_ij, then smaller dst id; weight = score / the list's best.

Spark and this process exchange Parquet files in a scratch folder (``[load] spark_dir``; on a
cluster it must be a folder every executor sees at the same path). The load reads the results back
and writes them to Neo4j through its usual driver batches (the Neo4j Spark connector does not
resolve from the registries reachable here).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ytgraph.config import LoadSettings, RelatedSettings, SessionSettings
from ytgraph.errors import InputError, YtGraphError
from ytgraph.ingest.covisit import Covisits
from ytgraph.ingest.related import _xlogx
from ytgraph.ingest.related import check_settings as check_related
from ytgraph.ingest.sessions import check_settings as check_sessions
from ytgraph.ingest.sessions import empty_sessions, window_seconds
from ytgraph.ingest.state import empty_related

_REQUIRED = ("user_id", "video_id", "timestamp", "event")
_BROADCAST_ROWS = 2_000_000  # the x ln x table is broadcast up to this many rows


def spark_session(master: str, scratch: Path) -> SparkSession:
    """A Spark session on ``master`` for ytgraph: no UI (no ports taken), quiet logs, UTC."""
    log4j = scratch / "log4j2.properties"
    log4j.write_text(
        "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\nappender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = spark: %p %c{1}: %m%n\n"
        # PySpark's JVM counts as a shell: unless the logger of the class that happens to log
        # first has a level of its own, Spark resets the level to WARN and says so on stderr.
        "logger.spark.name = org.apache.spark\nlogger.spark.level = error\n"
        "logger.hadoop.name = org.apache.hadoop\nlogger.hadoop.level = error\n"
    )
    builder = (
        SparkSession.builder.master(master)
        .appName("ytgraph")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
    )
    if master.startswith("local"):
        # Spark's 200 shuffle partitions suit a cluster; on one machine, two per core.
        builder = builder.config("spark.sql.shuffle.partitions", str(2 * _local_cores(master)))
    try:
        spark = builder.getOrCreate()
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise YtGraphError(f"Spark could not start on {master}: {first}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _local_cores(master: str) -> int:
    """The worker threads of a ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]`` master."""
    inside = master[len("local[") : -1].split(",")[0] if "[" in master else "1"
    return (os.cpu_count() or 1) if inside == "*" else int(inside)


class SparkEngine:
    """Counts on a Spark session; see the module doc. ``close`` removes the scratch files (and
    stops the session when this engine started it)."""

    def __init__(self, spark: SparkSession, scratch_root: str | Path = "", *, owns: bool = False):
        root = Path(scratch_root) if scratch_root else Path(tempfile.gettempdir())
        self.spark = spark
        self.scratch = root / f"ytgraph-spark-{uuid.uuid4().hex[:12]}"
        self.scratch.mkdir(parents=True)
        self._owns = owns
        self._n = 0
        # The Covisits this engine last built and the Parquet files it came from: R_i of it is
        # computed from those files, not from a fresh copy of the pairs.
        self._last: tuple[Covisits, Path, Path] | None = None

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> SparkEngine:
        """A session on ``settings.spark_master`` (or the active one a caller made), a scratch
        folder under ``settings.spark_dir``."""
        root = Path(settings.spark_dir) if settings.spark_dir else Path(tempfile.gettempdir())
        active = SparkSession.getActiveSession()
        if active is not None:
            return cls(active, root)
        root.mkdir(parents=True, exist_ok=True)
        boot = Path(tempfile.mkdtemp(prefix="ytgraph-spark-boot-", dir=root))
        try:
            spark = spark_session(settings.spark_master, boot)
        except BaseException:
            shutil.rmtree(boot, ignore_errors=True)
            raise
        engine = cls(spark, root, owns=True)
        shutil.move(str(boot), engine.scratch / "boot")
        return engine

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns:
            self.spark.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _path(self, name: str) -> Path:
        self._n += 1
        return self.scratch / f"{self._n:04d}-{name}"

    # --- the CountEngine calls -------------------------------------------------------------

    def sessions(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> pd.DataFrame:
        """``sessionize`` on Spark: the same rows, sorted by session_id, timestamp, video_id."""
        path = self.sessions_file(events, settings, durations)
        return empty_sessions() if path is None else _read_sessions(path)

    def covisits(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> Covisits:
        """``count(sessionize(...))`` on Spark."""
        path = self.sessions_file(events, settings, durations)
        return Covisits.empty() if path is None else self.count_sessions(path)

    def sessions_and_covisits(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> tuple[pd.DataFrame, Covisits]:
        """``sessions`` and ``covisits`` from one sessions job."""
        path = self.sessions_file(events, settings, durations)
        if path is None:
            return empty_sessions(), Covisits.empty()
        return _read_sessions(path), self.count_sessions(path)

    def count_sessions(self, sessions_path: Path) -> Covisits:
        """c_i, c_ij and N of the sessions Spark wrote to ``sessions_path``."""
        s = self.spark.read.parquet(str(sessions_path)).select("session_id", "video_id")
        counts_path, pairs_path = self._path("counts"), self._path("pairs")
        # c_i: the sessions holding i (a (session, video) row is there once).
        s.groupBy("video_id").agg(F.count(F.lit(1)).alias("c")).write.parquet(str(counts_path))
        # c_ij: the off-diagonal of X^T X, as a self-join on the session; it is symmetric, so each
        # unordered pair is counted once (src < dst) and mirrored where both directions are needed.
        a, b = s.alias("a"), s.alias("b")
        (
            a.join(b, "session_id")
            .where(F.col("a.video_id") < F.col("b.video_id"))
            .groupBy(F.col("a.video_id").alias("src"), F.col("b.video_id").alias("dst"))
            .agg(F.count(F.lit(1)).alias("c"))
            .write.parquet(str(pairs_path))
        )
        top = s.agg(F.max("session_id")).first()
        n_sessions = 0 if top is None or top[0] is None else int(top[0]) + 1  # ids are 0..S-1
        cov = _read_covisits(counts_path, pairs_path, n_sessions)
        self._last = (cov, counts_path, pairs_path)
        return cov

    def related(self, cov: Covisits, settings: RelatedSettings) -> pd.DataFrame:
        """``related_lists`` on Spark."""
        check_related(settings)
        if cov.nnz == 0:
            return empty_related()
        if self._last is not None and self._last[0] is cov:
            counts_path, pairs_path = self._last[1], self._last[2]
        else:
            counts_path, pairs_path = self._write_covisits(cov)
        counts = self.spark.read.parquet(str(counts_path))
        pairs = self.spark.read.parquet(str(pairs_path))
        xl = None
        if settings.normalization == "llr":
            xl = self.spark.read.parquet(str(self._xlogx_table(cov)))
        out = self._path("related")
        related_frame(counts, pairs, cov.n_sessions, settings, xl).write.parquet(str(out))
        r = pd.read_parquet(out).sort_values(["src", "rank"], kind="stable", ignore_index=True)
        return r.astype({"cooccurrences": "int64", "rank": "int64"})[list(empty_related().columns)]

    # --- files in, files out ---------------------------------------------------------------

    def sessions_file(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> Path | None:
        """Write the events, run the sessions job, return its Parquet folder (None: no watches)."""
        check_sessions(settings)
        missing = [c for c in _REQUIRED if c not in events.columns]
        if missing:
            raise InputError(f"events: missing column(s) {', '.join(missing)}")
        is_watch = (events["event"] == "watch").to_numpy(dtype=bool, na_value=False)
        if not is_watch.any():
            return None
        filtering = settings.long_watch_seconds is not None or (
            settings.long_watch_fraction is not None and durations is not None
        )
        cols = [*_REQUIRED, "watch_seconds"] if filtering else list(_REQUIRED)
        frame = events.loc[is_watch, [c for c in cols if c in events.columns]].copy()
        if "watch_seconds" in frame.columns:
            frame["watch_seconds"] = pd.to_numeric(frame["watch_seconds"], errors="coerce")
        frame["timestamp"] = frame["timestamp"].astype("int64")
        frame = frame.reset_index(drop=True)
        ev_path = self._path("events.parquet")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), ev_path)
        dur = None
        if settings.long_watch_fraction is not None and durations is not None:
            if durations.index.has_duplicates:
                raise InputError("durations: a video id occurs more than once in the index")
            seconds = pd.to_numeric(durations, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            dur_path = self._path("durations.parquet")
            pq.write_table(
                pa.table(  # typed: an empty series must still give a string and a double column
                    {
                        "video_id": pa.array(durations.index.astype(str), type=pa.string()),
                        "duration_seconds": pa.array(seconds, type=pa.float64()),
                    }
                ),
                dur_path,
            )
            dur = self.spark.read.parquet(str(dur_path))
        watches = counted_watches(self.spark.read.parquet(str(ev_path)), settings, dur)
        if frame["user_id"].isna().any() or frame["video_id"].isna().any():
            unnamed = watches.where(F.col("user_id").isNull() | F.col("video_id").isNull())
            if unnamed.limit(1).count():
                raise InputError("events: a watch has no user_id or no video_id")
        out = self._path("sessions")
        sessions_frame(watches, settings).write.parquet(str(out))
        return out

    def _write_covisits(self, cov: Covisits) -> tuple[Path, Path]:
        counts_path, pairs_path = self._path("counts.parquet"), self._path("pairs.parquet")
        ids = pd.Index(cov.videos)
        pq.write_table(
            pa.table({"video_id": ids.astype(str), "c": cov.counts.astype(np.int64)}), counts_path
        )
        p = sp.triu(cov.pairs, k=1).tocoo()  # each unordered pair once, as Spark writes them
        pq.write_table(
            pa.table(
                {
                    "src": ids.take(p.row).astype(str),
                    "dst": ids.take(p.col).astype(str),
                    "c": p.data.astype(np.int64),
                }
            ),
            pairs_path,
        )
        return counts_path, pairs_path

    def _xlogx_table(self, cov: Covisits) -> Path:
        """x ln x (numpy's, as ``related._signed_llr`` looks it up) for every x the 2x2 tables of
        these counts can hold: cells c_ij, c_i - c_ij, c_j - c_ij in 0..max c_i; margins c_i, c_j
        too; N - c_i, N - c_j and N - c_i - c_j + c_ij in N - 2 max c_i..N."""
        n, top = cov.n_sessions, int(cov.counts.max())
        x = np.union1d(np.arange(top + 1), np.arange(max(0, n - 2 * top), n + 1)).astype(np.int64)
        path = self._path("xlogx.parquet")
        pq.write_table(pa.table({"x": x, "xl": _xlogx(x.astype(np.float64))}), path)
        return path


def _read_sessions(path: Path) -> pd.DataFrame:
    s = pd.read_parquet(path, columns=["user_id", "session_id", "video_id", "timestamp"])
    s = s.sort_values(["session_id", "timestamp", "video_id"], kind="stable", ignore_index=True)
    return s.astype({"session_id": "int64", "timestamp": "int64"})


def _read_covisits(counts_path: Path, pairs_path: Path, n_sessions: int) -> Covisits:
    """The Covisits of the counts and pairs (each unordered pair once) a Spark job wrote: videos
    sorted, c_ij symmetric, CSR rows sorted."""
    counts = pd.read_parquet(counts_path).sort_values("video_id", ignore_index=True)
    if counts.empty:
        return Covisits.empty()
    videos = counts["video_id"].to_numpy(dtype=object)
    index = pd.Index(videos)
    pairs = pd.read_parquet(pairs_path)
    v = len(videos)
    i, j = index.get_indexer(pairs["src"]), index.get_indexer(pairs["dst"])
    c = pairs["c"].to_numpy(dtype=np.int64)
    m = sp.csr_matrix(
        (np.concatenate([c, c]), (np.concatenate([i, j]), np.concatenate([j, i]))),
        shape=(v, v),
        dtype=np.int64,
    )
    m.sort_indices()
    return Covisits(videos, counts["c"].to_numpy(dtype=np.int64), m, n_sessions)


# --- the jobs, as DataFrame plans --------------------------------------------------------------


def counted_watches(
    events: DataFrame, settings: SessionSettings, durations: DataFrame | None
) -> DataFrame:
    """``sessions.counted_watches`` as a filter: ``event == 'watch'`` and the long-watch tests.

    Spark orders NaN above every number (numpy: every comparison with NaN is false), so NaN is
    tested for explicitly wherever it can occur.
    """
    w = events.where(F.col("event") == "watch")
    if settings.long_watch_seconds is None and settings.long_watch_fraction is None:
        return w
    secs = (
        F.col("watch_seconds").cast("double")
        if "watch_seconds" in w.columns
        else F.lit(None).cast("double")
    )
    known = secs.isNotNull() & ~F.isnan(secs)
    keep: Column = F.lit(True)
    if settings.long_watch_seconds is not None:
        keep = keep & (~known | (secs >= F.lit(float(settings.long_watch_seconds))))
    if settings.long_watch_fraction is not None and durations is not None:
        w = w.join(F.broadcast(durations), "video_id", "left")
        dur = F.col("duration_seconds")
        has = known & dur.isNotNull() & ~F.isnan(dur) & (dur > 0)
        frac = secs / dur
        keep = keep & (
            ~has | ((frac >= F.lit(float(settings.long_watch_fraction))) & ~F.isnan(frac))
        )
    return w.where(keep)


def sessions_frame(watches: DataFrame, settings: SessionSettings) -> DataFrame:
    """(user_id, session_id, video_id, timestamp) of the counted watches; see the module doc.

    One shuffle brings each user's watches together as an array sorted by (time, video); the
    windows are cut there with array functions. Assigning a watch to its session costs
    O(watches x sessions) of that user, and a user's sessions are at most span / window + 1.
    """
    window = window_seconds(settings)
    w = watches.select("user_id", F.col("timestamp").cast("long").alias("timestamp"), "video_id")
    per_user = w.groupBy("user_id").agg(
        F.array_sort(F.collect_list(F.struct("timestamp", "video_id"))).alias("ev")
    )
    times = F.array_distinct(F.transform("ev", lambda x: x["timestamp"]))

    def fold(starts: Column, t: Column) -> Column:
        # Anchored windows: t opens a session when t - (last start) >= W, else joins the last one.
        opens = t - F.element_at(starts, -1) >= F.lit(window)
        return F.when(opens, F.concat(starts, F.array(t))).otherwise(starts)

    per_user = per_user.select("user_id", "ev", times.alias("ts")).select(
        "user_id",
        "ev",
        F.aggregate(F.slice("ts", 2, F.size("ts")), F.array(F.element_at("ts", 1)), fold).alias(
            "starts"
        ),
    )
    # Sessions are numbered by user id, then start: a user's first session id is the number of
    # sessions of the users before it (a running sum over one small row per user).
    before = Window.orderBy("user_id").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    offsets = per_user.select("user_id", F.size("starts").alias("n")).select(
        "user_id", (F.sum("n").over(before) - F.col("n")).alias("offset")
    )

    def placed(x: Column) -> Column:
        # A watch belongs to the last session that starts at or before it.
        local = F.size(F.filter("starts", lambda s: s <= x["timestamp"])) - 1
        return F.struct(
            local.alias("local"), x["video_id"].alias("video_id"), x["timestamp"].alias("ts")
        )

    rows = (
        per_user.join(offsets, "user_id")
        .select("user_id", "offset", F.explode(F.transform("ev", placed)).alias("e"))
        .select(
            "user_id",
            (F.col("offset") + F.col("e.local")).alias("session_id"),
            F.col("e.video_id").alias("video_id"),
            F.col("e.ts").alias("timestamp"),
        )
        # A video counts once per session, at its first watch.
        .groupBy("user_id", "session_id", "video_id")
        .agg(F.min("timestamp").alias("timestamp"))
    )
    if settings.max_videos > 0:
        first = Window.partitionBy("user_id", "session_id").orderBy("timestamp", "video_id")
        rows = rows.withColumn("k", F.row_number().over(first)).where(
            F.col("k") <= settings.max_videos
        )
    return rows.select("user_id", "session_id", "video_id", "timestamp")


def related_frame(
    counts: DataFrame,
    pairs: DataFrame,
    n_sessions: int,
    settings: RelatedSettings,
    xlogx: DataFrame | None = None,
) -> DataFrame:
    """R_i from counts (video_id, c) and pairs (src, dst, c; each unordered pair once): src, dst,
    score, cooccurrences, rank, weight (unordered). ``xlogx`` (x, xl) is needed for ``llr``."""
    p = pairs.select("src", "dst", F.col("c").alias("cij"))
    p = p.unionByName(p.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "cij"))
    if settings.min_count > 1:
        p = p.where(F.col("cij") >= settings.min_count)
    ci = counts.select(F.col("video_id").alias("src"), F.col("c").alias("ci"))
    cj = counts.select(F.col("video_id").alias("dst"), F.col("c").alias("cj"))
    p = p.join(ci, "src").join(cj, "dst")
    if settings.normalization == "llr":
        if xlogx is None:
            raise ValueError("llr needs the x ln x table")
        p = _with_llr(p, n_sessions, xlogx)
    else:
        p = p.withColumn("score", _ratio(settings.normalization, n_sessions, settings.damping))
    p = p.where((F.col("score") > 0) & (F.col("score") >= F.lit(float(settings.min_score))))
    # Ties go to the larger c_ij, then the smaller dst id (the in-process lexsort's keys).
    order = Window.partitionBy("src").orderBy(F.desc("score"), F.desc("cij"), F.asc("dst"))
    p = p.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= settings.top_n)
    best = F.max("score").over(Window.partitionBy("src"))  # the rank-1 score
    return p.select(
        "src",
        "dst",
        "score",
        F.col("cij").cast("long").alias("cooccurrences"),
        F.col("rank").cast("long").alias("rank"),
        (F.col("score") / best).alias("weight"),
    )


def _ratio(normalization: str, n: int, damping: float) -> Column:
    """``related.scores`` for the ratio normalisations, the same float operations in order."""
    cij, ci, cj = F.col("cij"), F.col("ci"), F.col("cj")
    c = cij.cast("double")
    if damping > 0:
        # c_i + d and c_j + d pseudo-sessions inside f (``related._damped``).
        d = F.lit(float(damping))
        di, dj = ci.cast("double") + d, cj.cast("double") + d
        damped: dict[str, Column] = {
            "product": c / (di * dj),
            "candidate": c / dj,
            "cosine": c / F.sqrt(di * dj),
            "jaccard": c / (((di + dj) - d) - c),
            "lift": (c * F.lit(float(n))) / (di * dj),
        }
        return damped[normalization]
    # Integer products first, one rounding at the division.
    plain: dict[str, Column] = {
        "product": c / (ci * cj).cast("double"),  # c_ij / (c_i c_j), the paper's
        "candidate": c / cj.cast("double"),  # c_ij / c_j
        "cosine": c / F.sqrt((ci * cj).cast("double")),  # c_ij / sqrt(c_i c_j)
        "jaccard": c / ((ci + cj) - cij).cast("double"),  # c_ij / (c_i + c_j - c_ij)
        "lift": (cij * F.lit(n)).cast("double") / (ci * cj).cast("double"),  # c_ij N / (c_i c_j)
    }
    return plain[normalization]


def _with_llr(p: DataFrame, n: int, xlogx: DataFrame) -> DataFrame:
    """Signed G² of the 2x2 table [[c_ij, c_i - c_ij], [c_j - c_ij, N - c_i - c_j + c_ij]]:
    2 (Σ cells k ln k - Σ rows r ln r - Σ columns c ln c + N ln N), signed by c_ij N - c_i c_j,
    summed in the order ``related._signed_llr`` sums it."""
    cij, ci, cj = F.col("cij"), F.col("ci"), F.col("cj")
    p = p.select(
        "src",
        "dst",
        "cij",
        "ci",
        "cj",
        (ci - cij).alias("k12"),
        (cj - cij).alias("k21"),
        ((F.lit(n) - ci) - (cj - cij)).alias("k22"),  # r2 - k21, as the reference
        (F.lit(n) - ci).alias("r2"),
        (F.lit(n) - cj).alias("c2"),
    )
    table = xlogx.select(F.col("x").cast("long").alias("x"), F.col("xl"))
    small = table.count() <= _BROADCAST_ROWS
    for col in ("cij", "k12", "k21", "k22", "ci", "r2", "cj", "c2"):
        t = table.select(F.col("x").alias(col), F.col("xl").alias(f"xl_{col}"))
        p = p.join(F.broadcast(t) if small else t, col, "left")
    xn = float(_xlogx(np.array([float(n)]))[0])
    g = F.col("xl_cij") + F.col("xl_k12") + F.col("xl_k21") + F.col("xl_k22")
    g = g - (F.col("xl_ci") + F.col("xl_r2") + F.col("xl_cj") + F.col("xl_c2"))
    g = g + F.lit(xn)
    g2 = F.greatest(F.lit(2.0) * g, F.lit(0.0))  # cancellation can leave a hair below 0
    score = F.signum((cij * F.lit(n)) - (ci * cj)) * g2
    return p.select("src", "dst", "cij", "ci", "cj", score.alias("score"))
